//! The drill's record: its timeline, and the JSON and Markdown reports written from it.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use dr_core::time::now_millis;
use serde_json::{json, Value};

/// What happened when, for the record: seconds from the drill's start and the wall clock.
pub(super) struct Timeline {
    started: Instant,
    pub(super) events: Vec<Value>,
}

impl Timeline {
    pub(super) fn new(started: Instant) -> Self {
        Self {
            started,
            events: vec![json!({"event": "started", "seconds": 0.0, "at_ms": now_millis()})],
        }
    }

    pub(super) fn mark(&mut self, event: impl Into<String>) {
        self.events.push(json!({
            "event": event.into(),
            "seconds": round(self.started.elapsed().as_secs_f64()),
            "at_ms": now_millis(),
        }));
    }
}

pub(super) fn round(seconds: f64) -> f64 {
    (seconds * 100.0).round() / 100.0
}

pub(super) fn write_reports(
    dir: &PathBuf,
    started_ms: i64,
    report: &Value,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json_path = dir.join(format!("drill-{started_ms}.json"));
    let markdown_path = dir.join(format!("drill-{started_ms}.md"));
    std::fs::write(&json_path, serde_json::to_string_pretty(report)?)?;
    let mut markdown = format!(
        "# Failover drill {started_ms}\n\n**{}** — RTO {} s (start to {}), RPO {} s (of the snapshot copies the drill restored)\n\n",
        if report["passed"] == true { "PASSED" } else { "FAILED" },
        report["rto_seconds"],
        report["rto_measured_to"].as_str().unwrap_or_default(),
        report["rpo_seconds"]
    );
    for source in report["failover_sources"].as_array().into_iter().flatten() {
        markdown.push_str(&format!(
            "A failover now restores **{}** from {}.\n\n",
            source["database"].as_str().unwrap_or_default(),
            source["detail"].as_str().unwrap_or_default()
        ));
    }
    markdown.push_str(&format!(
        "Run by `{}` with drctl {}, configuration `{}`.\n\n",
        report["operator"].as_str().unwrap_or_default(),
        report["drctl_version"].as_str().unwrap_or_default(),
        report["config_sha256"].as_str().unwrap_or_default()
    ));
    markdown.push_str("| objective | verdict | seconds | objective (s) |\n|---|---|---|---|\n");
    for o in report["objectives"].as_array().into_iter().flatten() {
        markdown.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            o["objective"].as_str().unwrap_or_default(),
            o["verdict"].as_str().unwrap_or_default(),
            o["seconds"],
            o["objective_seconds"]
        ));
    }
    markdown.push_str(&format!(
        "\nFleet model: {}\n\n| at (s) | event |\n|---|---|\n",
        report["fleet_rto_model"].as_str().unwrap_or_default()
    ));
    for e in report["timeline"].as_array().into_iter().flatten() {
        markdown.push_str(&format!(
            "| {} | {} |\n",
            e["seconds"],
            e["event"].as_str().unwrap_or_default()
        ));
    }
    markdown.push_str("\n| check | result | seconds | detail |\n|---|---|---|---|\n");
    for phase in report["phases"].as_array().into_iter().flatten() {
        markdown.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            phase["check"].as_str().unwrap_or_default(),
            match (phase["passed"] == true, phase["skipped"] == true) {
                (_, true) => "skip",
                (true, false) => "pass",
                (false, false) => "FAIL",
            },
            phase["seconds"],
            phase["detail"]
                .as_str()
                .unwrap_or_default()
                .replace('|', "\\|")
        ));
    }
    std::fs::write(&markdown_path, markdown)?;
    Ok((json_path, markdown_path))
}
