//! CloudWatch embedded metric format: one JSON log line per batch that CloudWatch turns into
//! metrics, with no PutMetricData call on the hot path.

use serde_json::{json, Map, Value};

/// The namespace of every metric we publish.
pub const NAMESPACE: &str = "IotDr";

/// A set of metrics under one dimension set, printed as one EMF line.
#[derive(Debug, Default)]
pub struct MetricLine {
    dimensions: Vec<(String, String)>,
    metrics: Vec<(String, f64, &'static str)>,
}

impl MetricLine {
    /// Metrics of `function` (the dimension `Function`).
    pub fn for_function(function: &str) -> Self {
        Self {
            dimensions: vec![("Function".to_owned(), function.to_owned())],
            metrics: Vec::new(),
        }
    }

    /// Add a dimension (e.g. `Database`).
    pub fn dimension(mut self, name: &str, value: &str) -> Self {
        self.dimensions.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Add a plain value (seconds, a gauge…).
    pub fn seconds(mut self, name: &str, value: f64) -> Self {
        self.metrics.push((name.to_owned(), value, "Seconds"));
        self
    }

    /// Add a count.
    pub fn count(mut self, name: &str, value: u64) -> Self {
        self.metrics.push((name.to_owned(), value as f64, "Count"));
        self
    }

    /// Add a duration in milliseconds.
    pub fn millis(mut self, name: &str, value: f64) -> Self {
        self.metrics.push((name.to_owned(), value, "Milliseconds"));
        self
    }

    /// The EMF JSON document.
    pub fn to_json(&self, timestamp_ms: i64) -> Value {
        let mut root = Map::new();
        for (key, value) in &self.dimensions {
            root.insert(key.clone(), Value::String(value.clone()));
        }
        for (name, value, _) in &self.metrics {
            root.insert(name.clone(), json!(value));
        }
        root.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [self.dimensions.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()],
                    "Metrics": self.metrics.iter().map(|(name, _, unit)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
                }]
            }),
        );
        Value::Object(root)
    }

    /// Print the line to stdout, where Lambda ships it to CloudWatch Logs.
    pub fn emit(&self) {
        println!("{}", self.to_json(dr_core::time::now_millis()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_declares_every_metric_it_carries() {
        let line = MetricLine::for_function("cert-replicator")
            .count("Applied", 3)
            .millis("LagMax", 1200.0)
            .to_json(1);
        assert_eq!(line["Applied"], 3.0);
        assert_eq!(line["Function"], "cert-replicator");
        let declared = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], NAMESPACE);
        assert_eq!(declared["Metrics"][1]["Unit"], "Milliseconds");
        assert_eq!(declared["Dimensions"][0][0], "Function");
    }
}
