//! `drctl status`: one screen of where the fleet stands — which side serves, what DNS says,
//! the health checker's state and last probes, certificate counts on both sides and the
//! reconciler's last findings, the replication queue and its DLQ, the newest restorable DR
//! snapshot and its RPO.
//!
//! Every section is read at once and on its own, each call bounded by drctl's timeouts: in a
//! regional outage primary's sections say, in one line each, which side, region and
//! service did not answer and how ("primary us-east-1 IoT: no answer within 5 s"), and the
//! screen still comes back in seconds. Exit 0 when everything was read and nothing needs
//! attention; 1 when a section could not be read or something needs attention (primary not
//! healthy, DR serving, dead letters, no restorable snapshot).

use std::collections::BTreeMap;
use std::future::Future;

use dr_aws::checkpoint::DynamoCheckpoint;
use dr_aws::dlq::ReplicationDlq;
use dr_aws::failover::{FailoverPorts, Switch};
use dr_aws::iot::IotRegistry;
use dr_aws::rds::RdsSnapshotStore;
use dr_aws::{names, AwsSession};
use dr_core::failover::{StateStore, Stored, TrafficSwitch};
use dr_core::reconcile::{count_by_status, CheckpointStore};
use dr_core::snapshots::{decide, DatabaseRestorer};
use dr_core::time::now_millis;
use dr_core::{CallTimeouts, Side, Topology};
use serde_json::{json, Value};

use dr_core::report::Figures;

use crate::output::Output;
use crate::plain::{one_line, From};
use dr_core::time::human;

pub(crate) async fn run(output: Output, topology: &Topology) -> anyhow::Result<()> {
    let session = AwsSession::connect(topology, "drctl").await;
    let timeouts = *session.timeouts();
    let ports = FailoverPorts::new(&session, topology);
    let at = |side: Side, service| From::at(topology, side, service);
    let alarm_from = at(Side::Dr, "CloudWatch");
    // Every section at once: a hung side costs one operation timeout, not one per section.
    let (stored, dns, alarm, primary, dr, reconcile, replication, snapshots) = tokio::join!(
        read(at(Side::Dr, "DynamoDB"), topology, timeouts, async {
            Ok(ports.store.load().await?)
        }),
        // What Route 53 answers: the health check's status (data-plane flip) or the record
        // (dns-api), from Route 53's global API; "unknown" while that is down.
        read(
            From::Route53,
            topology,
            timeouts,
            route53_answer(&ports.switch)
        ),
        read(alarm_from, topology, timeouts, alarm_state(&ports.switch)),
        read(
            at(Side::Primary, "IoT"),
            topology,
            timeouts,
            certificate_counts(&session, topology, Side::Primary)
        ),
        read(
            at(Side::Dr, "IoT"),
            topology,
            timeouts,
            certificate_counts(&session, topology, Side::Dr)
        ),
        read(
            at(Side::Dr, "DynamoDB"),
            topology,
            timeouts,
            reconcile(&session, topology)
        ),
        read(
            at(Side::Dr, "SQS"),
            topology,
            timeouts,
            replication(&session, topology)
        ),
        read(
            at(Side::Dr, "RDS"),
            topology,
            timeouts,
            restorable(&session, topology)
        ),
    );
    let mut document = json!({
        "traffic": section(traffic(topology, stored.as_ref(), dns, alarm)),
        "health": section(stored.as_ref().map(health).map_err(Clone::clone)),
        "certificates": {
            "primary": section(primary),
            "dr": section(dr),
            "reconcile": section(reconcile),
        },
        "replication": section(replication),
        "snapshots": section(snapshots),
    });
    let attention = attention(&document);
    document["attention"] = json!(attention);
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&document)?),
        Output::Table => print_table(&document),
    }
    if attention.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("needs attention: {}", attention.join("; "))
    }
}

/// Read one section, turning a failure into its one line.
async fn read<T>(
    from: From<'_>,
    topology: &Topology,
    timeouts: CallTimeouts,
    section: impl Future<Output = anyhow::Result<T>>,
) -> Result<T, String> {
    section
        .await
        .map_err(|e| one_line(from, topology, &timeouts, &e))
}

/// A section's value, or `{"error": "<where>: <what>"}`.
fn section(read: Result<Value, String>) -> Value {
    read.unwrap_or_else(|e| json!({ "error": e }))
}

/// What Route 53 answers for the record now, and why.
async fn route53_answer(switch: &Switch) -> anyhow::Result<Value> {
    Ok(match switch {
        Switch::DataPlane(s) => {
            let view = s.route53_view().await?;
            json!({
                "side": if view.healthy { "primary" } else { "dr" },
                "source": format!("PRIMARY's health check {} (GetHealthCheckStatus)", view.health_check_id),
                "report": view.report,
            })
        }
        Switch::DnsApi(s) => json!({
            "side": s.serving().await?.map(|side| side.to_string()),
            "source": "the record's value (ListResourceRecordSets)",
        }),
    })
}

/// The serving alarm's state (data-plane flip only): CloudWatch's evaluation, which Route 53
/// does not read — shown beside what Route 53 answers, never in its place.
async fn alarm_state(switch: &Switch) -> anyhow::Result<Value> {
    Ok(match switch {
        Switch::DataPlane(s) => json!(s.alarm_state().await?),
        Switch::DnsApi(_) => Value::Null,
    })
}

fn traffic(
    topology: &Topology,
    stored: Result<&Option<Stored>, &String>,
    dns: Result<Value, String>,
    alarm: Result<Value, String>,
) -> Result<Value, String> {
    let state = stored.map_err(Clone::clone)?;
    let or_unknown = |read: Result<Value, String>| read.unwrap_or_else(|e| json!({"unknown": e}));
    let dns = or_unknown(dns);
    Ok(json!({
        "record": topology.dns.record.as_str(),
        "flip": format!("{:?}", topology.failover.flip),
        // The health checker's own decision (the state table).
        "state_says": state.as_ref().map_or(Side::Primary, |s| s.record.state.serving()).to_string(),
        // What Route 53 answers devices ("unknown" while its API cannot be read).
        "dns_says": dns.get("side").cloned().unwrap_or_else(|| json!("unknown")),
        "route53": dns,
        "alarm": or_unknown(alarm),
        "primary_target": topology.dns.primary_target.as_str(),
        "dr_target": topology.dns.dr_target.as_str(),
    }))
}

fn health(stored: &Option<Stored>) -> Value {
    let Some(stored) = stored else {
        // What the controller starts from when nothing is stored: held (a first deploy).
        let first = dr_core::failover::State::first_deployed(now_millis());
        return json!({
            "mode": first.mode.to_string(),
            "note": "no health-checker round recorded yet",
            "hold": first.hold.as_ref().map(|h| json!({"by": h.by, "reason": h.reason})),
        });
    };
    let state = &stored.record.state;
    let now = now_millis();
    json!({
        "mode": state.mode.to_string(),
        "since_seconds": (now - state.since_ms) / 1000,
        "down_streak": state.down_streak,
        "up_streak": state.up_streak,
        "hold": state.hold.as_ref().map(|h| json!({"by": h.by, "reason": h.reason})),
        "last_round_age_seconds": state.last_round_ms.map(|t| (now - t) / 1000),
        "last_probes": state.last_round.as_ref().map(|r| r.outcomes.iter().map(|o| json!({
            "probe": o.probe, "healthy": o.healthy, "latency_ms": o.latency_ms, "reason": o.reason,
        })).collect::<Vec<_>>()),
        // What the pending runbook found and is waiting on (a database restore's status and
        // elapsed time): the operator sees where a failover stands without the audit table.
        "runbook_pending": stored.record.runbook.as_ref().map(|r| json!({
            "id": r.id,
            "done": r.done,
            "elapsed_seconds": (now - r.started_ms) / 1000,
            "progress": r.progress,
            "overdue": r.overdue,
            "notes": r.notes_line(),
        })),
        "fencing_token": stored.version,
    })
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
    let (status_age_ms, deep_age_ms) = cursor.oldest_unverified_ms(now);
    Ok(json!({
        "current_pass": {
            "phase": cursor.phase,
            "started_seconds_ago": (now - cursor.started_ms) / 1000,
            "pages": cursor.totals.pages,
            "checked": cursor.totals.checked,
        },
        "last_pass": cursor.last_pass.map(|p| with_drift(json!({
            "completed_seconds_ago": (now - p.completed_ms) / 1000,
            "took_seconds": (p.completed_ms - p.started_ms) / 1000,
            "checked": p.totals.checked,
            "repaired": p.totals.repaired,
            "failed": p.totals.failed,
        }), &p.totals.drift)),
        // The status tier: every certificate's id and status, from both listings.
        "last_status_pass": cursor.last_status_pass.map(|p| with_drift(json!({
            "completed_seconds_ago": (now - p.completed_ms) / 1000,
            "took_seconds": (p.completed_ms - p.started_ms) / 1000,
            "listed": p.source_certificates,
            "repaired": p.repaired,
        }), &p.counts)),
        "oldest_unverified_seconds": {
            "status": status_age_ms.map(|ms| ms / 1000),
            "deep": deep_age_ms.map(|ms| ms / 1000),
        },
    }))
}

/// `object` with a tally's figures under their keys (`wrong_status`…): the drift kinds as
/// the reconciler lists them, so a new kind shows here without an edit.
fn with_drift(mut object: Value, drift: &impl Figures) -> Value {
    for figure in drift.figures() {
        object["drift"][figure.key()] = json!(figure.value as u64);
    }
    object
}

/// A tally under `drift`, as a person reads it: `missing 0  wrong status 1 …`.
fn drift_line(pass: &Value) -> String {
    pass["drift"]
        .as_object()
        .map(|kinds| {
            kinds
                .iter()
                .map(|(key, n)| format!("{} {n}", key.replace('_', " ")))
                .collect::<Vec<_>>()
                .join("  ")
        })
        .unwrap_or_default()
}

async fn replication(session: &AwsSession, topology: &Topology) -> anyhow::Result<Value> {
    let counts = ReplicationDlq::connect(session, topology)
        .await?
        .counts_by_lane()
        .await?;
    let queue = |name: String, counts: dr_aws::dlq::QueueCounts| json!({"name": name, "waiting": counts.waiting, "in_flight": counts.in_flight});
    Ok(json!({
        "queue": queue(names::replication_queue_name(topology), counts.registry),
        "shadow_queue": queue(names::shadow_queue_name(topology), counts.shadows),
        "dead_letter_queue": queue(names::dead_letter_queue_name(topology), counts.dead_letters),
    }))
}

/// Each protected database's newest restorable DR snapshot and its RPO, from DR's own
/// copies only: what a failover would restore, readable while primary is down.
async fn restorable(session: &AwsSession, topology: &Topology) -> anyhow::Result<Value> {
    let now = now_millis();
    let mut rows = Vec::new();
    for (kind, policy) in topology.snapshot_policies() {
        let store = RdsSnapshotStore::new(session, topology, kind);
        let plan = decide(now, &policy, &store.restorable(&policy.database).await?);
        rows.push(json!({
            "database": policy.database,
            "newest_restorable": plan.newest_restorable,
            "rpo_seconds": plan.rpo_ms.map(|ms| ms / 1000),
        }));
    }
    Ok(Value::Array(rows))
}

/// What an operator should look at, in a word each; empty when all is well.
fn attention(d: &Value) -> Vec<String> {
    let mut out = Vec::new();
    // Sections that failed for one cause (a role refused, a region down) are one line.
    let mut unreadable: Vec<(String, Vec<&str>)> = Vec::new();
    for (name, section) in [
        ("traffic", &d["traffic"]),
        ("health", &d["health"]),
        ("primary certificates", &d["certificates"]["primary"]),
        ("DR certificates", &d["certificates"]["dr"]),
        ("reconcile", &d["certificates"]["reconcile"]),
        ("replication", &d["replication"]),
        ("snapshots", &d["snapshots"]),
    ] {
        let Some(error) = section.get("error").and_then(Value::as_str) else {
            continue;
        };
        // "<side> <region> <service>: <cause>" → "<side> <region>: <cause>"
        let key = match error.split_once(": ") {
            Some((from, cause)) => {
                let place: Vec<&str> = from.split(' ').take(2).collect();
                format!("{}: {cause}", place.join(" "))
            }
            None => error.to_owned(),
        };
        match unreadable.iter_mut().find(|(k, _)| *k == key) {
            Some((_, names)) => names.push(name),
            None => unreadable.push((key, vec![name])),
        }
    }
    for (cause, names) in unreadable {
        out.push(format!("unreadable ({}): {cause}", names.join(", ")));
    }
    if let Some(mode) = d["health"]["mode"].as_str().filter(|m| *m != "healthy") {
        out.push(format!("primary is {mode}"));
    }
    if let Some(by) = d["health"]["hold"]["by"].as_str() {
        out.push(format!(
            "automatic failover is HELD by {by}: `drctl release` arms it"
        ));
    }
    if d["traffic"]["dns_says"] == "dr" {
        out.push("DR serves traffic".to_owned());
    }
    if let Some(e) = d["traffic"]["route53"]
        .get("unknown")
        .and_then(Value::as_str)
    {
        out.push(format!("what Route 53 answers is unknown: {e}"));
    }
    if let Some(n) = d["replication"]["dead_letter_queue"]["waiting"]
        .as_u64()
        .filter(|n| *n > 0)
    {
        out.push(format!("{n} dead letter(s): drctl dlq list"));
    }
    for row in d["snapshots"].as_array().into_iter().flatten() {
        if row["newest_restorable"].is_null() {
            out.push(format!(
                "no restorable DR snapshot of {}",
                row["database"].as_str().unwrap_or("?")
            ));
        }
    }
    out
}

/// Where CloudWatch's evaluation of the serving alarm disagrees with what Route 53 answers
/// (the alarm moves at its next evaluation, Route 53 with the data), why; else nothing.
fn alarm_lag(dns_says: &Value, alarm: &Value) -> String {
    let expected = match dns_says.as_str() {
        Some("dr") => "ALARM",
        Some("primary") => "OK",
        _ => return String::new(),
    };
    match alarm.as_str() {
        Some(state) if state != expected => format!(
            "; the alarm itself still reads {state}: CloudWatch evaluates it once a period, \
             Route 53 follows its data"
        ),
        _ => String::new(),
    }
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
            println!("  {} ({} flip)", text(&t["record"]), text(&t["flip"]));
            println!("  health checker decided: {}", text(&t["state_says"]));
            // One verdict on where devices go: Route 53's, which follows the serving
            // alarm's data. CloudWatch's own evaluation of that alarm lags the data by up
            // to a period; it is named only where it disagrees, and why.
            match t["route53"].get("unknown") {
                Some(e) => println!("  Route 53 answers:       unknown ({})", text(e)),
                None => println!(
                    "  Route 53 answers:       {}  ({}{}){}",
                    text(&t["dns_says"]),
                    text(&t["route53"]["source"]),
                    t["route53"]
                        .get("report")
                        .map(|r| format!(": {}", text(r)))
                        .unwrap_or_default(),
                    alarm_lag(&t["dns_says"], &t["alarm"])
                ),
            }
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
            let pending = &h["runbook_pending"];
            if let Some(runbook) = pending.get("id") {
                println!(
                    "  runbook {} in progress for {} s, done: {}",
                    text(runbook),
                    text(&pending["elapsed_seconds"]),
                    pending["done"]
                );
                if let Some(progress) = pending["progress"].as_str() {
                    println!("  waiting: {progress}");
                }
                println!("  notes: {}", text(&pending["notes"]));
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
    match (error(r), r.get("last_status_pass")) {
        (Some(e), _) => println!("  reconcile unreadable: {e}"),
        (None, Some(p)) if !p.is_null() => println!(
            "  status pass {} s ago ({} listed, took {} s): {}  repaired {}",
            text(&p["completed_seconds_ago"]),
            text(&p["listed"]),
            text(&p["took_seconds"]),
            drift_line(p),
            text(&p["repaired"])
        ),
        _ => println!(
            "  no status pass recorded yet (only the scheduled reconciler records its passes; `drctl reconcile` reports its own)"
        ),
    }
    match (error(r), r.get("last_pass")) {
        (Some(_), _) => {}
        (None, Some(p)) if !p.is_null() => println!(
            "  deep pass {} s ago: {}  repaired {}",
            text(&p["completed_seconds_ago"]),
            drift_line(p),
            text(&p["repaired"])
        ),
        _ => println!(
            "  no deep pass recorded yet (only the scheduled reconciler records its passes)"
        ),
    }
    println!("REPLICATION");
    match error(&d["replication"]) {
        Some(e) => println!("  unreadable: {e}"),
        None => {
            let q = &d["replication"];
            println!(
                "  registry lane waiting {}  in flight {}   shadow lane waiting {}  in flight {}   DLQ {}",
                text(&q["queue"]["waiting"]),
                text(&q["queue"]["in_flight"]),
                text(&q["shadow_queue"]["waiting"]),
                text(&q["shadow_queue"]["in_flight"]),
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
    if let Some(items) = d["attention"].as_array().filter(|a| !a.is_empty()) {
        println!("ATTENTION");
        for item in items {
            println!("  {}", text(item));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::alarm_lag;
    use serde_json::json;

    #[test]
    fn the_alarm_is_named_only_where_it_lags_what_route_53_answers() {
        assert_eq!(alarm_lag(&json!("dr"), &json!("ALARM")), "");
        assert_eq!(alarm_lag(&json!("primary"), &json!("OK")), "");
        assert!(alarm_lag(&json!("dr"), &json!("OK")).contains("still reads OK"));
        assert_eq!(alarm_lag(&json!("unknown"), &json!("OK")), "");
    }
}
