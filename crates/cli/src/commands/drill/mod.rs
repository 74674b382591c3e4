//! `drctl drill`: the failover runbook in drill mode, never touching production routing.
//! Restore the newest DR snapshot of every protected database into a scratch database,
//! compare the certificate registries, flip the separate drill record to DR, connect a
//! canary device to DR's endpoint (when `[drill.canary]` is configured) and have it GET its
//! shadow there as the device contract asks (the report shows DR's shadow version), time every
//! phase, tear everything down, and write a JSON and a Markdown report with the measured
//! RTO and RPO and a verdict per check, and which source (DR's snapshot copy or RDS's
//! replicated backups) a failover now would restore each database from. Exit 1 when any
//! check fails.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use dr_aws::backups::RdsReplicatedBackups;
use dr_aws::failover::DnsApiSwitch;
use dr_aws::iot::IotRegistry;
use dr_aws::ledger::DynamoLedger;
use dr_aws::probes::Probe;
use dr_aws::rds::RdsSnapshotStore;
use dr_aws::AwsSession;
use dr_core::drill::{canary_shadow, judge_objectives, CanaryShadow};
use dr_core::failover::{DnsRto, FleetRto, TrafficSwitch};
use dr_core::reconcile::{Direction, Reconciler, MAX_PAGE_SIZE};
use dr_core::snapshots::{
    observe_all_sources, restore_newest, DatabaseRestorer, RestoreRequest, RestoreSource,
};
use dr_core::time::now_millis;
use dr_core::{CertificatePem, ProbeConfig, Side, Topology};
use serde_json::{json, Value};

mod report;
use report::{round, write_reports, Timeline};

#[derive(Debug, Args)]
pub(crate) struct DrillArgs {
    /// Where to write the reports.
    #[arg(long, default_value = "drill-reports")]
    report_dir: PathBuf,
    /// How long to wait for each scratch database, in seconds.
    #[arg(long, default_value_t = 1800)]
    restore_timeout: u64,
}

/// One phase's outcome.
struct Phase {
    name: &'static str,
    passed: bool,
    /// Not run because it is not configured; passed, but said so in the report.
    skipped: bool,
    seconds: f64,
    detail: String,
}

pub(crate) async fn run(args: DrillArgs, topology: &Topology) -> anyhow::Result<()> {
    let session = AwsSession::connect(topology, "drctl").await;
    let started_ms = now_millis();
    let started = Instant::now();
    // Who ran it, as STS authenticated them (never $USER): the record names a person.
    let operator = match session.caller_arn().await {
        Ok(arn) => arn,
        Err(error) => format!("unknown (STS GetCallerIdentity: {error})"),
    };
    let mut timeline = Timeline::new(started);
    let mut phases = Vec::new();
    let mut rpo_seconds = None;
    let mut scratch = Vec::new();

    // 0. Which source a failover now would restore each database from (read only).
    let failover_sources = failover_sources(&session, topology).await;
    for source in &failover_sources {
        println!(
            "source {}: {}",
            source["database"].as_str().unwrap_or_default(),
            source["detail"].as_str().unwrap_or_default()
        );
    }

    // 1. Database: restore every protected database into a scratch one.
    for (kind, policy) in topology.snapshot_policies() {
        let target = format!("{}-drill-{started_ms}", policy.database);
        let store = RdsSnapshotStore::new(&session, topology, kind);
        let request = RestoreRequest {
            kind,
            policy: &policy,
            target: &target,
            poll: Duration::from_secs(10),
            timeout: Duration::from_secs(args.restore_timeout),
            settings: policy.restore.for_scratch(),
            // Whose it is, as a failover's restore says: this drill's.
            tags: vec![(
                dr_core::snapshots::TAG_RUNBOOK.to_owned(),
                format!("drill-{started_ms}"),
            )],
        };
        let phase_started = Instant::now();
        eprintln!("drill: restoring {} into {target}…", policy.database);
        let spinner = waiting(&format!("waiting for {target} to become available"));
        let result = restore_newest(&store, &request, now_millis(), tokio::time::sleep).await;
        if let Some(spinner) = spinner {
            spinner.finish_and_clear();
        }
        let seconds = phase_started.elapsed().as_secs_f64();
        phases.push(match result {
            Ok(restored) => {
                timeline.mark(format!("database {} ready as {target}", policy.database));
                let rpo = restored.rpo_ms / 1000;
                rpo_seconds = Some(rpo_seconds.map_or(rpo, |r: i64| r.max(rpo)));
                scratch.push((kind, target.clone()));
                Phase {
                    name: "database restore",
                    passed: true,
                    skipped: false,
                    seconds,
                    detail: format!(
                        "{} restored from {} as {target}, available at {}:{}; data age {rpo} s",
                        policy.database,
                        restored.snapshot_id,
                        restored.endpoint.address,
                        restored.endpoint.port
                    ),
                }
            }
            Err(error) => {
                // A half-made scratch database is torn down too.
                scratch.push((kind, target.clone()));
                Phase {
                    name: "database restore",
                    passed: false,
                    skipped: false,
                    seconds,
                    detail: format!("{}: {error}", policy.database),
                }
            }
        });
    }

    // 2. Certificates: DR must hold what primary holds (a read-only pass, both registries).
    let phase_started = Instant::now();
    eprintln!("drill: comparing the certificate registries…");
    let (primary, dr) = (
        IotRegistry::for_side(&session, topology, Side::Primary),
        IotRegistry::for_side(&session, topology, Side::Dr),
    );
    let ledger = DynamoLedger::new(
        session.dynamodb(Side::Dr),
        topology.replication.ledger_table.as_str(),
    );
    let comparison = Reconciler::new(topology, Direction::PrimaryToDr, &primary, &dr, &ledger)
        .page_size(MAX_PAGE_SIZE)
        .run_to_end(now_millis)
        .await;
    timeline.mark("registries compared");
    let mut certificates_checked = None;
    phases.push(match comparison {
        Ok(report) => {
            certificates_checked = Some(report.checked);
            let c = report.counts;
            let passed = c.missing == 0 && c.mismatched == 0;
            let first = report
                .first
                .iter()
                .find(|d| !matches!(d, dr_core::reconcile::Drift::Extra(_) | dr_core::reconcile::Drift::RevokedConflict { .. }))
                .map(|d| format!(" (first: {})", d.certificate_id()))
                .unwrap_or_default();
            Phase {
                name: "certificates",
                passed,
                skipped: false,
                seconds: phase_started.elapsed().as_secs_f64(),
                detail: format!(
                    "{} checked: missing in DR {}, mismatched {}, revoked only in DR {}, only in DR {}{first}",
                    report.checked, c.missing, c.mismatched, c.conflicts, c.extra
                ),
            }
        }
        Err(error) => Phase {
            name: "certificates",
            passed: false,
            skipped: false,
            seconds: phase_started.elapsed().as_secs_f64(),
            detail: error.to_string(),
        },
    });

    // 3. DNS: flip the drill record to DR and read it back.
    let phase_started = Instant::now();
    eprintln!("drill: flipping {} to DR…", topology.dns.drill_record);
    let drill_switch = DnsApiSwitch::drill(&session, topology);
    let flipped = async {
        drill_switch.ensure().await?;
        drill_switch.point_to(Side::Dr).await?;
        drill_switch.serving().await
    }
    .await;
    let dns_seconds = phase_started.elapsed().as_secs_f64();
    if matches!(flipped, Ok(Some(Side::Dr))) {
        timeline.mark(format!("{} answers DR", topology.dns.drill_record));
    }
    phases.push(Phase {
        name: "drill DNS flip",
        passed: matches!(flipped, Ok(Some(Side::Dr))),
        skipped: false,
        seconds: dns_seconds,
        detail: match &flipped {
            Ok(Some(side)) => format!(
                "{} answers {side} ({})",
                topology.dns.drill_record, topology.dns.dr_target
            ),
            Ok(None) => format!("{} answers neither side", topology.dns.drill_record),
            Err(error) => error.to_string(),
        },
    });
    // 4. A canary device connects to DR's endpoint: its certificate reached DR's registry
    // and DR's endpoint lets a device in (what the fleet will do after the flip).
    let phase_started = Instant::now();
    let canary_connect = match Probe::drill_canary(topology, &session) {
        None => Phase {
            name: "canary connect",
            passed: true,
            skipped: true,
            seconds: 0.0,
            detail: "skipped: no [drill.canary] configured".to_owned(),
        },
        Some(Err(error)) => Phase {
            name: "canary connect",
            passed: false,
            skipped: false,
            seconds: 0.0,
            detail: error.to_string(),
        },
        Some(Ok(canary)) => {
            eprintln!("drill: connecting the canary device to DR…");
            let outcome = canary.check().await;
            Phase {
                name: "canary connect",
                passed: outcome.healthy,
                skipped: false,
                seconds: phase_started.elapsed().as_secs_f64(),
                detail: format!("{}: {}", outcome.probe, outcome.reason),
            }
        }
    };
    let canary_connected = canary_connect.passed && !canary_connect.skipped;
    if canary_connected {
        timeline.mark("canary connected to DR");
    }
    phases.push(canary_connect);
    // RTO as measured: from the drill's start until traffic could reach DR (the flip done
    // and, when configured, a device connected).
    let rto_seconds = started.elapsed().as_secs_f64();
    let rto_measured_to = if topology.drill.canary.is_some() {
        "DNS on DR and the canary connected"
    } else {
        "DNS on DR"
    };
    // 4b. Connected, the canary follows the device contract: a new connection trusts no
    // shadow version from before (DR's versions count DR's writes, not primary's) and GETs
    // its shadow. Not part of the RTO above, which ends at the connection.
    let (canary_shadow, canary_dr_shadow_version) =
        canary_shadow_phase(topology, &session, canary_connected).await;
    phases.push(canary_shadow);
    // The patients' part of the RTO, which no drill measures on production devices: the
    // fleet model over DR's quotas as Service Quotas answers them now.
    let fleet_rto = fleet_rto(&session, topology, certificates_checked).await;

    // 5. Teardown: scratch databases deleted, the drill record back to primary.
    let phase_started = Instant::now();
    eprintln!("drill: tearing down…");
    let mut leftovers = Vec::new();
    for (kind, target) in &scratch {
        let store = RdsSnapshotStore::new(&session, topology, *kind);
        if let Err(error) = store.delete_database(*kind, target).await {
            leftovers.push(format!("{target}: {error}"));
        }
    }
    if let Err(error) = drill_switch.point_to(Side::Primary).await {
        leftovers.push(format!("{}: {error}", topology.dns.drill_record));
    }
    phases.push(Phase {
        name: "teardown",
        passed: leftovers.is_empty(),
        skipped: false,
        seconds: phase_started.elapsed().as_secs_f64(),
        detail: if leftovers.is_empty() {
            format!(
                "{} scratch database(s) deleted, drill record back to primary",
                scratch.len()
            )
        } else {
            format!("left behind: {}", leftovers.join("; "))
        },
    });

    timeline.mark("torn down");
    let objectives = judge_objectives(
        &topology.objectives,
        rto_seconds,
        fleet_rto
            .as_ref()
            .ok()
            .and_then(|m| m.at_percent(topology.objectives.rto_fleet_percent)),
        rpo_seconds.map(|s| s as f64),
    );
    let passed =
        phases.iter().all(|p| p.passed) && objectives.iter().all(|o| o.met() != Some(false));
    let report = json!({
        "started_ms": started_ms,
        "passed": passed,
        "operator": operator,
        "drctl_version": env!("CARGO_PKG_VERSION"),
        "config_sha256": topology.digest(),
        "primary": {"account": topology.primary.account_id.as_str(), "region": topology.primary.region.as_str()},
        "dr": {"account": topology.dr.account_id.as_str(), "region": topology.dr.region.as_str()},
        "timeline": timeline.events,
        "objectives": objectives.iter().map(|o| json!({
            "objective": o.name, "objective_seconds": o.objective_seconds,
            "seconds": o.seconds.map(round), "verdict": o.label(),
        })).collect::<Vec<_>>(),
        "fleet_rto_model": match &fleet_rto {
            Ok(model) => json!(model.to_string()),
            Err(error) => json!(format!("not modelled: {error}")),
        },
        "rto_seconds": round(rto_seconds),
        "rto_measured_to": rto_measured_to,
        "rpo_seconds": rpo_seconds,
        "canary_dr_shadow_version": canary_dr_shadow_version,
        "failover_sources": failover_sources,
        "phases": phases.iter().map(|p| json!({
            "check": p.name, "passed": p.passed, "skipped": p.skipped, "seconds": round(p.seconds), "detail": p.detail,
        })).collect::<Vec<_>>(),
    });
    let (json_path, markdown_path) = write_reports(&args.report_dir, started_ms, &report)?;
    for p in &phases {
        println!(
            "{:<5} {:<18} {:>8.2} s  {}",
            match (p.passed, p.skipped) {
                (_, true) => "skip",
                (true, false) => "pass",
                (false, false) => "FAIL",
            },
            p.name,
            p.seconds,
            p.detail
        );
    }
    println!(
        "drill {}: RTO {rto_seconds:.1} s (start to {rto_measured_to}), RPO {}; reports {} and {}",
        if passed { "PASSED" } else { "FAILED" },
        rpo_seconds.map_or("unknown".to_owned(), |s| format!("{s} s")),
        json_path.display(),
        markdown_path.display()
    );
    for o in &objectives {
        println!(
            "{:<5} {} {} (objective {})",
            o.label(),
            o.name,
            o.seconds
                .map_or("unknown".to_owned(), |s| format!("{s:.1} s")),
            o.objective_seconds
                .map_or("none".to_owned(), |s| format!("{s} s"))
        );
    }
    let failed: Vec<_> = phases
        .iter()
        .filter(|p| !p.passed)
        .map(|p| p.name.to_owned())
        .chain(
            objectives
                .iter()
                .filter(|o| o.met() == Some(false))
                .map(|o| format!("objective {}", o.name)),
        )
        .collect();
    anyhow::ensure!(failed.is_empty(), "drill failed: {}", failed.join(", "));
    Ok(())
}

/// The canary's shadow in DR, read as the device contract's device reads it after CONNACK
/// (README, "What a device must do to work in DR"), within the canary's timeout. Read over
/// the operators' data-plane access in DR, not over the canary's MQTT connection: it proves
/// DR's shadow service answers for the canary's thing and at which version, not that the
/// canary's IoT policy allows the shadow topics. Also the version seen, for the JSON report.
async fn canary_shadow_phase(
    topology: &Topology,
    session: &AwsSession,
    connected: bool,
) -> (Phase, Option<u64>) {
    let skipped = |detail: &str| Phase {
        name: "canary shadow",
        passed: true,
        skipped: true,
        seconds: 0.0,
        detail: detail.to_owned(),
    };
    let Some(ProbeConfig::Mqtt {
        client_cert_file,
        client_id,
        timeout_ms,
        ..
    }) = &topology.drill.canary
    else {
        return (skipped("skipped: no [drill.canary] configured"), None);
    };
    if !connected {
        return (skipped("skipped: the canary did not connect"), None);
    }
    eprintln!("drill: the canary reads its shadow in DR…");
    let started = Instant::now();
    let read = async {
        let pem = std::fs::read_to_string(client_cert_file)
            .with_context(|| format!("reading {}", client_cert_file.display()))?;
        let certificate = CertificatePem::parse(&pem)
            .with_context(|| format!("{} holds no certificate", client_cert_file.display()))?
            .id()
            .clone();
        let dr = IotRegistry::for_side(session, topology, Side::Dr);
        tokio::time::timeout(
            Duration::from_millis(*timeout_ms),
            canary_shadow(&dr, &certificate, client_id),
        )
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {timeout_ms} ms"))?
        .map_err(anyhow::Error::from)
    }
    .await;
    let phase = Phase {
        name: "canary shadow",
        passed: read.is_ok(),
        skipped: false,
        seconds: started.elapsed().as_secs_f64(),
        detail: match &read {
            Ok(shadow) => shadow.to_string(),
            Err(error) => format!("{error:#}"),
        },
    };
    let version = match read {
        Ok(CanaryShadow::Seen { version, .. }) => Some(version),
        _ => None,
    };
    (phase, version)
}

/// A spinner with elapsed time while RDS works (minutes in AWS), on a terminal only.
fn waiting(message: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .expect("a valid template"),
    );
    spinner.set_message(message.to_owned());
    spinner.enable_steady_tick(Duration::from_millis(200));
    Some(spinner)
}

/// Per database: the source a failover now would restore from (DR's snapshot copy, RDS's
/// replicated backups or the Aurora global database's secondary: the newest data), each
/// source's data age, and what could not be read.
async fn failover_sources(session: &AwsSession, topology: &Topology) -> Vec<Value> {
    let replicated = RdsReplicatedBackups::new(session, topology);
    let now = now_millis();
    let mut out = Vec::new();
    for (kind, policy) in topology.snapshot_policies() {
        let copies = RdsSnapshotStore::new(session, topology, kind);
        let store = policy.backup_replication.as_ref().map(|_| &replicated);
        let global = policy.global_secondary.as_ref().map(|_| &replicated);
        let report = observe_all_sources(&copies, store, global, &policy, None, now).await;
        let age = |r: &Result<Option<RestoreSource>, _>| {
            r.as_ref()
                .ok()
                .and_then(Option::as_ref)
                .map(|s| s.rpo_ms(now) / 1000)
        };
        let chosen = report.chosen();
        let mut detail = chosen.map_or_else(
            || "nothing restorable in DR".to_owned(),
            |s| format!("{} (data age {} s)", s.describe(), s.rpo_ms(now) / 1000),
        );
        for unreadable in report.unreadable() {
            detail.push_str(&format!("; could not read {unreadable}"));
        }
        out.push(json!({
            "database": policy.database,
            "source": chosen.map(RestoreSource::kind_name),
            "rpo_seconds": chosen.map(|s| s.rpo_ms(now) / 1000),
            "snapshot_copy_rpo_seconds": age(&report.copy),
            "replicated_backups_rpo_seconds": report.replicated.as_ref().and_then(age),
            "global_secondary_rpo_seconds": report.global.as_ref().and_then(age),
            "detail": detail,
        }));
    }
    out
}

/// The fleet model for `[fleet] devices`, or the certificates the drill compared, over DR's
/// IoT quotas.
async fn fleet_rto(
    session: &AwsSession,
    topology: &Topology,
    certificates: Option<u64>,
) -> anyhow::Result<FleetRto> {
    let devices = topology
        .fleet
        .devices
        .or(certificates)
        .context("no fleet size: set [fleet] devices (the registries could not be compared)")?;
    let quotas = dr_aws::quotas::iot_quotas(session, Side::Dr)
        .await
        .context("DR's IoT quotas (Service Quotas)")?;
    Ok(FleetRto::model(
        DnsRto::of(topology),
        &topology.fleet,
        dr_aws::quotas::model_quotas(&quotas),
        devices,
    ))
}
