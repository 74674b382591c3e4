//! The game day, timed: primary's whole region hangs or refuses under the real
//! health-checker binary (IAM enforced), with 1 and 3 protected databases. From the
//! outage's start: the checker's decision, Route 53 answering DR (PRIMARY's health check,
//! polled every 100 ms as an operator reads it), and the runbook finished (every database
//! restored in DR). Rounds follow each other 0.5 s apart (the schedule sped up; production
//! rounds are `round_interval_seconds` apart), so decision time here is probe timeouts
//! and the checker's own work; restores take the sandbox's default 2 s. A second table
//! plays RDS's timeline: 3-minute restores, an Aurora cluster whose instances come only
//! once it is available, rounds 5 s apart. Then the DNS RTO on paper, which the sandbox
//! cannot show (its Route 53 reads the alarm's data with no lag). `make bench` prints the
//! tables.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dr_aws::failover::Switch;
use dr_aws::rds::RdsSnapshotStore;
use dr_aws::AwsSession;
use dr_core::failover::TrafficSwitch;
use dr_core::snapshots::{tick, DatabaseKind};
use dr_core::{Side, Topology};
use dr_sandbox::fault_proxy::OutageMode;
use dr_sandbox::fleet::LambdaPaths;
use dr_sandbox::outage::{simulate_outage, OutagePlan};
use dr_sandbox::{LauncherPaths, SandboxServer};

#[tokio::main]
async fn main() {
    let log = std::env::temp_dir().join(format!("drctl-bench-gameday-{}.log", std::process::id()));
    let server = SandboxServer::start(&LauncherPaths::from_build(), &log)
        .await
        .unwrap();
    let exe = std::env::current_exe().unwrap();
    let paths = LambdaPaths::new(exe.parent().unwrap().parent().unwrap());
    let work = tempfile::tempdir().unwrap();

    println!("game day in the sandbox: primary's region down, real health-checker binary, rounds back to back");
    println!("| outage | protected databases | deciding round answered (s) | Route 53 answers DR (s) | runbook finished (s) | calls to primary while down |");
    println!("|---|---|---|---|---|---|");
    let mut run = 0;
    for mode in [OutageMode::Hang, OutageMode::Refuse] {
        for databases in [1, 3] {
            run += 1;
            let topology = world(server.endpoint(), run, databases).await;
            let plan = OutagePlan {
                topology: topology.clone(),
                mode,
                route53_down: false,
                healthy_rounds: 2,
                // Restores take the sandbox's default 2 s: rounds half a second apart
                // leave them time to land inside the outage.
                max_outage_rounds: 24,
                recovery_rounds: 1,
                pause: Duration::from_millis(500),
                work_dir: work.path().join(run.to_string()),
            };
            let operator =
                AwsSession::connect(&dr_sandbox::identity::as_operator(&topology), "bench").await;
            let dr_seen: Arc<Mutex<Option<Instant>>> = Arc::default();
            let watcher = tokio::spawn(watch_route53(
                operator,
                topology.clone(),
                Arc::clone(&dr_seen),
            ));
            let report = simulate_outage(&paths, &plan, |_| {}).await.unwrap();
            watcher.abort();
            let dns = dr_seen
                .lock()
                .unwrap()
                .map(|seen| seen.saturating_duration_since(report.began).as_secs_f64());
            println!(
                "| {mode} | {databases} | {:.1} | {} | {:.1} | {} |",
                report.to_decision.as_secs_f64(),
                dns.map_or("not seen".to_owned(), |s| format!("{s:.1}")),
                report.to_failed_over.as_secs_f64(),
                report.primary_calls.attempted,
            );
        }
    }

    server.stop().await.unwrap();
    slow_restores(&paths, work.path()).await;

    let config = dr_core::FailoverConfig::default();
    let rto = dr_core::failover::DnsRto::new(
        config.failure_threshold,
        config.round_interval_seconds,
        dr_core::DnsConfig::default().ttl_seconds,
    );
    println!();
    println!("DNS RTO on paper with production defaults: {rto}");
}

/// RDS's timeline: restores that take `RESTORE_SECONDS` (3 minutes, a small database on
/// AWS), an Aurora cluster whose instances can be created only once it is available, the
/// checker's rounds `PAUSE` apart. From the outage's start: decided → Route 53 answers DR →
/// every database ready (the runbook's last step, so also runbook done).
async fn slow_restores(paths: &LambdaPaths, work: &std::path::Path) {
    const RESTORE_SECONDS: &str = "180";
    const PAUSE: Duration = Duration::from_secs(5);
    let log = std::env::temp_dir().join(format!("drctl-bench-slow-{}.log", std::process::id()));
    let server = SandboxServer::start_with(
        &LauncherPaths::from_build(),
        &log,
        &[("DRCTL_SANDBOX_RESTORE_SECONDS", RESTORE_SECONDS)],
    )
    .await
    .unwrap();
    println!();
    println!("game day on RDS's timeline: restores take {RESTORE_SECONDS} s, rounds {} s apart, primary's region hangs", PAUSE.as_secs());
    println!("| protected databases | decided (s) | Route 53 answers DR (s) | databases ready = runbook done (s) | calls to primary while down |");
    println!("|---|---|---|---|---|");
    let (i, c) = (DatabaseKind::Instance, DatabaseKind::Cluster);
    for (run, (label, kinds)) in [
        ("1 instance", vec![i]),
        ("1 Aurora cluster (2 instances)", vec![c]),
        ("3: 2 instances + 1 Aurora cluster", vec![i, i, c]),
    ]
    .into_iter()
    .enumerate()
    {
        let topology = world_of(server.endpoint(), 100 + run, &kinds).await;
        let plan = OutagePlan {
            topology: topology.clone(),
            mode: OutageMode::Hang,
            route53_down: false,
            healthy_rounds: 2,
            // Room for the restores and the cluster's instances after them.
            max_outage_rounds: 120,
            // At least one: the outage ends only with a recovery, and the next world
            // provisions primary.
            recovery_rounds: 1,
            pause: PAUSE,
            work_dir: work.join(format!("slow-{run}")),
        };
        let operator =
            AwsSession::connect(&dr_sandbox::identity::as_operator(&topology), "bench").await;
        let dr_seen: Arc<Mutex<Option<Instant>>> = Arc::default();
        let watcher = tokio::spawn(watch_route53(
            operator,
            topology.clone(),
            Arc::clone(&dr_seen),
        ));
        let report = simulate_outage(paths, &plan, |_| {}).await.unwrap();
        watcher.abort();
        let dns = dr_seen
            .lock()
            .unwrap()
            .map(|seen| seen.saturating_duration_since(report.began).as_secs_f64());
        println!(
            "| {label} | {:.1} | {} | {:.1} | {} |",
            report.to_decision.as_secs_f64(),
            dns.map_or("not seen".to_owned(), |s| format!("{s:.1}")),
            report.to_failed_over.as_secs_f64(),
            report.primary_calls.attempted,
        );
    }
    server.stop().await.unwrap();
}

/// A world of its own on the bench's sandbox: failover state, operator topic, DNS record
/// and `databases` protected instances, each with a copy restorable in DR.
async fn world(endpoint: &dr_core::Endpoint, run: usize, databases: usize) -> Topology {
    world_of(endpoint, run, &vec![DatabaseKind::Instance; databases]).await
}

/// The same with a database of each of `kinds` (an Aurora cluster gets two instances),
/// armed as the deploy order's last step does (`drctl release`).
async fn world_of(endpoint: &dr_core::Endpoint, run: usize, kinds: &[DatabaseKind]) -> Topology {
    let databases = kinds.len();
    let name = format!("gd{run}");
    let mut topology = Topology::parse(
        include_str!("../../config/sandbox.toml"),
        "config/sandbox.toml",
        [
            ("DRCTL__SANDBOX__ENDPOINT".to_owned(), endpoint.to_string()),
            ("DRCTL__SANDBOX__WORLD".to_owned(), name.clone()),
        ],
    )
    .unwrap();
    topology.failover.state_table = format!("{name}-state").parse().unwrap();
    topology.failover.operator_topic = format!("{name}-operators").parse().unwrap();
    topology.dns.record = format!("{name}.example.com").parse().unwrap();
    topology.dns.drill_record = format!("drill-{name}.example.com").parse().unwrap();
    let template = topology.snapshots.databases[0].clone();
    topology.snapshots.databases = (1..=databases)
        .map(|i| {
            let mut db = template.clone();
            db.identifier = format!("{name}db{i}").parse().unwrap();
            db.deletion_protection = false;
            db.kind = kinds[i - 1];
            if db.kind == DatabaseKind::Cluster {
                db.instances = Some(2);
                db.backup_replication = None;
            }
            db
        })
        .collect();
    dr_sandbox::provision(&topology).await.unwrap();
    let admin = AwsSession::connect(&dr_sandbox::identity::as_admin(&topology), "bench").await;
    let controller = AwsSession::connect(
        &dr_sandbox::identity::as_function(&topology, "snapshot-controller"),
        "bench",
    )
    .await;
    for (kind, policy) in topology.snapshot_policies() {
        match kind {
            DatabaseKind::Instance => {
                dr_sandbox::provision::snapshots::ensure_instance(
                    &admin,
                    &topology,
                    &policy.database,
                )
                .await
                .unwrap();
            }
            DatabaseKind::Cluster => {
                dr_sandbox::provision::snapshots::ensure_cluster(
                    &admin,
                    &topology,
                    &policy.database,
                )
                .await
                .unwrap();
            }
        }
        let store = RdsSnapshotStore::new(&controller, &topology, kind);
        for _ in 0..6 {
            tick(&store, &policy, dr_core::time::now_millis())
                .await
                .unwrap();
        }
    }
    let operator =
        AwsSession::connect(&dr_sandbox::identity::as_operator(&topology), "bench").await;
    dr_aws::failover::FailoverPorts::new(&operator, &topology)
        .controller()
        .release(dr_core::time::now_millis())
        .await
        .unwrap();
    topology
}

/// Record when Route 53 first answers DR for the topology's record.
async fn watch_route53(session: AwsSession, topology: Topology, seen: Arc<Mutex<Option<Instant>>>) {
    let switch = Switch::new(&session, &topology);
    loop {
        if let Ok(Some(Side::Dr)) = switch.serving().await {
            *seen.lock().unwrap() = Some(Instant::now());
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
