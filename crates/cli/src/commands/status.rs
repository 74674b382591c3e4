//! `drctl status`: one screen of where the fleet stands — which side serves, what DNS says,
//! the health checker's state and last probes, certificate counts on both sides and the
//! reconciler's last findings, the replication queue and its DLQ, the newest restorable DR
//! snapshot and its RPO. Each section is read on its own: during an outage primary cannot
//! be read, and that is shown in its section rather than failing the whole screen.

use std::collections::BTreeMap;
use std::future::Future;

use dr_aws::checkpoint::DynamoCheckpoint;
use dr_aws::dlq::ReplicationDlq;
use dr_aws::failover::FailoverPorts;
use dr_aws::iot::IotRegistry;
use dr_aws::{names, AwsSession};
use dr_core::failover::{StateStore, Stored, TrafficSwitch};
use dr_core::reconcile::{count_by_status, CheckpointStore};
use dr_core::replication::ports::PortError;
use dr_core::time::now_millis;
use dr_core::{Side, Topology};
use serde_json::{json, Value};

use super::snapshot::{human, status_rows, Output};

pub(crate) async fn run(output: Output, topology: &Topology) -> anyhow::Result<()> {
    let session = AwsSession::connect(topology, "drctl").await;
    let ports = FailoverPorts::new(&session, topology);
    // Read once: the traffic and health sections both show it.
    let stored = ports.store.load().await;
    let document = json!({
        "traffic": section(traffic(&ports, topology, stored.as_ref())).await,
        "health": section(async { health(stored.as_ref()) }).await,
        "certificates": {
            "primary": section(certificate_counts(&session, topology, Side::Primary)).await,
            "dr": section(certificate_counts(&session, topology, Side::Dr)).await,
            "reconcile": section(reconcile(&session, topology)).await,
        },
        "replication": section(replication(&session, topology)).await,
        "snapshots": section(async {
            Ok(Value::Array(status_rows(&session, topology, &topology.snapshot_policies()).await?))
        })
        .await,
    });
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&document)?),
        Output::Table => print_table(&document),
    }
    Ok(())
}

/// A section's value, or `{"error": …}` when it could not be read.
async fn section(read: impl Future<Output = anyhow::Result<Value>>) -> Value {
    read.await
        .unwrap_or_else(|e| json!({ "error": format!("{e:#}") }))
}

async fn traffic(
    ports: &FailoverPorts<'_>,
    topology: &Topology,
    stored: Result<&Option<Stored>, &PortError>,
) -> anyhow::Result<Value> {
    let state = stored.map_err(Clone::clone)?;
    let switch = ports.switch.serving().await?;
    Ok(json!({
        "record": topology.dns.record.as_str(),
        "flip": format!("{:?}", topology.failover.flip),
        "state_says": state.as_ref().map_or(Side::Primary, |s| s.record.state.serving()).to_string(),
        "dns_says": switch.map(|s| s.to_string()),
        "primary_target": topology.dns.primary_target.as_str(),
        "dr_target": topology.dns.dr_target.as_str(),
    }))
}

fn health(stored: Result<&Option<Stored>, &PortError>) -> anyhow::Result<Value> {
    let Some(stored) = stored.map_err(Clone::clone)? else {
        return Ok(json!({"mode": "healthy", "note": "no health-checker round recorded yet"}));
    };
    let state = &stored.record.state;
    let now = now_millis();
    Ok(json!({
        "mode": state.mode.to_string(),
        "since_seconds": (now - state.since_ms) / 1000,
        "down_streak": state.down_streak,
        "up_streak": state.up_streak,
        "hold": state.hold.as_ref().map(|h| json!({"by": h.by, "reason": h.reason})),
        "last_round_age_seconds": state.last_round_ms.map(|t| (now - t) / 1000),
        "last_probes": state.last_round.as_ref().map(|r| r.outcomes.iter().map(|o| json!({
            "probe": o.probe, "healthy": o.healthy, "latency_ms": o.latency_ms, "reason": o.reason,
        })).collect::<Vec<_>>()),
        "runbook_pending": stored.record.runbook.as_ref().map(|r| json!({"id": r.id, "done": r.done})),
        "fencing_token": stored.version,
    }))
}

async fn certificate_counts(
    session: &AwsSession,
    topology: &Topology,
    side: Side,
) -> anyhow::Result<Value> {
    let registry = IotRegistry::for_side(session, topology, side);
    let counts: BTreeMap<String, u64> = count_by_status(&registry)
        .await?
        .into_iter()
        .map(|(status, n)| (status.to_string(), n))
        .collect();
    Ok(json!(counts))
}

async fn reconcile(session: &AwsSession, topology: &Topology) -> anyhow::Result<Value> {
    let checkpoint = DynamoCheckpoint::new(
        session.dynamodb(Side::Dr),
        topology.replication.ledger_table.as_str(),
        "primary-to-dr",
    );
    let Some(saved) = checkpoint.load().await? else {
        return Ok(json!({"note": "the reconciler has not run yet"}));
    };
    let cursor = saved.cursor;
    let now = now_millis();
    Ok(json!({
        "current_pass": {
            "phase": cursor.phase,
            "started_seconds_ago": (now - cursor.started_ms) / 1000,
            "pages": cursor.totals.pages,
            "checked": cursor.totals.checked,
        },
        "last_pass": cursor.last_pass.map(|p| json!({
            "completed_seconds_ago": (now - p.completed_ms) / 1000,
            "took_seconds": (p.completed_ms - p.started_ms) / 1000,
            "checked": p.totals.checked,
            "missing": p.totals.drift.missing,
            "mismatched": p.totals.drift.mismatched,
            "conflicts": p.totals.drift.conflicts,
            "extra": p.totals.drift.extra,
            "repaired": p.totals.repaired,
            "failed": p.totals.failed,
        })),
    }))
}

async fn replication(session: &AwsSession, topology: &Topology) -> anyhow::Result<Value> {
    let (queue, dlq) = ReplicationDlq::connect(session, topology)
        .await?
        .queue_and_dlq_counts()
        .await?;
    Ok(json!({
        "queue": {"name": names::replication_queue_name(topology), "waiting": queue.waiting, "in_flight": queue.in_flight},
        "dead_letter_queue": {"name": names::dead_letter_queue_name(topology), "waiting": dlq.waiting, "in_flight": dlq.in_flight},
    }))
}

fn print_table(d: &Value) {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let error = |v: &Value| v.get("error").map(text);
    println!("TRAFFIC");
    match error(&d["traffic"]) {
        Some(e) => println!("  unreadable: {e}"),
        None => {
            let t = &d["traffic"];
            println!(
                "  {} → serving {} (state) / {} (DNS, {} flip)",
                text(&t["record"]),
                text(&t["state_says"]),
                text(&t["dns_says"]),
                text(&t["flip"])
            );
        }
    }
    println!("HEALTH");
    let h = &d["health"];
    match error(h) {
        Some(e) => println!("  unreadable: {e}"),
        None => {
            println!(
                "  {}  down streak {}  up streak {}  last round {} s ago{}",
                text(&h["mode"]),
                text(&h["down_streak"]),
                text(&h["up_streak"]),
                text(&h["last_round_age_seconds"]),
                h["hold"]
                    .get("by")
                    .map(|by| format!("  HELD by {}: {}", text(by), text(&h["hold"]["reason"])))
                    .unwrap_or_default()
            );
            for probe in h["last_probes"].as_array().into_iter().flatten() {
                println!(
                    "  {:<6} {} ({} ms): {}",
                    if probe["healthy"] == true {
                        "ok"
                    } else {
                        "FAILED"
                    },
                    text(&probe["probe"]),
                    text(&probe["latency_ms"]),
                    text(&probe["reason"])
                );
            }
            if let Some(runbook) = h["runbook_pending"].get("id") {
                println!("  runbook {} in progress", text(runbook));
            }
        }
    }
    println!("CERTIFICATES");
    for side in ["primary", "dr"] {
        let counts = &d["certificates"][side];
        match error(counts) {
            Some(e) => println!("  {side:<8} unreadable: {e}"),
            None => println!(
                "  {side:<8} {}",
                counts
                    .as_object()
                    .map(|c| c
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join("  "))
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "none".to_owned())
            ),
        }
    }
    let r = &d["certificates"]["reconcile"];
    match (error(r), r.get("last_pass")) {
        (Some(e), _) => println!("  reconcile unreadable: {e}"),
        (None, Some(p)) if !p.is_null() => println!(
            "  last reconcile {} s ago: missing {}  mismatched {}  conflicts {}  extra {}  repaired {}",
            text(&p["completed_seconds_ago"]),
            text(&p["missing"]),
            text(&p["mismatched"]),
            text(&p["conflicts"]),
            text(&p["extra"]),
            text(&p["repaired"])
        ),
        _ => println!("  no completed reconcile pass yet"),
    }
    println!("REPLICATION");
    match error(&d["replication"]) {
        Some(e) => println!("  unreadable: {e}"),
        None => {
            let q = &d["replication"];
            println!(
                "  queue waiting {}  in flight {}   DLQ {}",
                text(&q["queue"]["waiting"]),
                text(&q["queue"]["in_flight"]),
                text(&q["dead_letter_queue"]["waiting"])
            );
        }
    }
    println!("SNAPSHOTS");
    match error(&d["snapshots"]) {
        Some(e) => println!("  unreadable: {e}"),
        None => {
            for row in d["snapshots"].as_array().into_iter().flatten() {
                println!(
                    "  {:<20} newest restorable {}  RPO {}",
                    text(&row["database"]),
                    text(&row["newest_restorable"]),
                    row["rpo_seconds"]
                        .as_i64()
                        .map(|s| human(s * 1000))
                        .unwrap_or_else(|| "-".to_owned())
                );
            }
        }
    }
}
