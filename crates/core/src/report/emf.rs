//! CloudWatch embedded metric format: one JSON log line per section, which CloudWatch Logs
//! turns into metrics with no PutMetricData call on the hot path.

use serde_json::{json, Map, Value};

use super::{Report, Section};

/// The namespace of every metric the control plane publishes.
pub const NAMESPACE: &str = "IotDr";

/// The dimension every line carries: the publishing function's crate name.
pub const FUNCTION_DIMENSION: &str = "Function";

/// The EMF lines of `report`, as `function` publishes them (dimension `Function`), one per
/// section that carries figures, each with its ancestors' dimensions and its own.
pub fn lines(function: &str, report: &impl Report, timestamp_ms: i64) -> Vec<String> {
    let mut lines = Vec::new();
    let base = vec![(FUNCTION_DIMENSION, function.to_owned())];
    for section in report.sections() {
        walk(&section, &base, timestamp_ms, &mut lines);
    }
    lines
}

/// Print `report`'s lines to stdout, where Lambda ships them to CloudWatch Logs.
pub fn emit(function: &str, report: &impl Report, timestamp_ms: i64) {
    for line in lines(function, report, timestamp_ms) {
        println!("{line}");
    }
}

fn walk(
    section: &Section,
    inherited: &[(&'static str, String)],
    timestamp_ms: i64,
    lines: &mut Vec<String>,
) {
    let mut dimensions = inherited.to_vec();
    dimensions.extend(section.dimensions.iter().cloned());
    if !section.figures.is_empty() {
        lines.push(line(&dimensions, section, timestamp_ms).to_string());
    }
    for child in &section.children {
        walk(child, &dimensions, timestamp_ms, lines);
    }
}

fn line(dimensions: &[(&'static str, String)], section: &Section, timestamp_ms: i64) -> Value {
    let mut root = Map::new();
    for (key, value) in dimensions {
        root.insert((*key).to_owned(), Value::String(value.clone()));
    }
    for figure in &section.figures {
        root.insert(figure.name.to_owned(), json!(figure.value));
    }
    root.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": section.figures.iter()
                    .map(|f| json!({"Name": f.name, "Unit": f.unit.cloudwatch()}))
                    .collect::<Vec<_>>(),
            }]
        }),
    );
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Figure, Section};

    struct Example;

    impl Report for Example {
        fn sections(&self) -> Vec<Section> {
            vec![
                Section::top()
                    .figure(Figure::count("Applied", 3))
                    .figure(Figure::millis("LagMax", 1200.0)),
                Section::named("status_pass")
                    .dimension("Tier", "status")
                    .child(
                        Section::listed("reasons")
                            .dimension("Reason", "CopyQuota")
                            .figure(Figure::count("FailuresByReason", 1)),
                    ),
            ]
        }
    }

    #[test]
    fn each_section_with_figures_is_a_line_declaring_every_metric_and_its_dimensions() {
        let lines: Vec<Value> = lines("cert-replicator", &Example, 1)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "the figureless section prints no line");
        assert_eq!(lines[0]["Applied"], 3.0);
        assert_eq!(lines[0]["Function"], "cert-replicator");
        let declared = &lines[0]["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], NAMESPACE);
        assert_eq!(declared["Metrics"][1]["Unit"], "Milliseconds");
        assert_eq!(declared["Dimensions"][0][0], "Function");
        assert_eq!(
            lines[1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0],
            json!(["Function", "Tier", "Reason"]),
            "a child keeps its parent's dimensions"
        );
        assert_eq!(
            (&lines[1]["Tier"], &lines[1]["Reason"]),
            (&json!("status"), &json!("CopyQuota"))
        );
    }
}
