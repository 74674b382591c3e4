//! The game day, scaled down (`drctl-sandbox outage simulate` in the demo): traffic flows,
//! then primary's whole region fails — every call signed for it hung or refused, its IoT
//! endpoint with it, Route 53's control plane too in one run — under the real
//! health-checker binary with IAM enforced. It must decide within `failure_threshold`
//! rounds, flip, notify, restore the database from DR's copy into the application's
//! network, audit, and finish, calling nothing in primary's region. Then the region comes
//! back and an operator fails back with the real `drctl`: reverse reconcile, flip back,
//! fence.
//!
//! Each run has a sandbox of its own: the reverse reconcile copies DR's whole registry
//! into primary, which other tests' certificates must not meet.

use std::path::Path;
use std::time::Instant;

use dr_core::failover::{Mode, RunbookKind};
use dr_core::{FlipMode, Side};
use dr_sandbox::fault_proxy::OutageMode;
use dr_sandbox::outage::{simulate_outage, OutagePlan, Phase};

use crate::e2e::{binary, lambda_paths, repo_root};
use crate::failover::World;
use crate::helpers::unique;
use crate::primary_endpoint::PrimaryEndpoint;

#[tokio::test]
async fn game_day_primary_s_region_hangs_the_checker_fails_over_from_dr_alone_then_fails_back() {
    game_day(OutageMode::Hang, false).await;
}

#[tokio::test]
async fn game_day_primary_s_region_and_route_53_s_control_plane_refuse_and_the_same_holds() {
    game_day(OutageMode::Refuse, true).await;
}

async fn game_day(mode: OutageMode, route53_down: bool) {
    let log = std::env::temp_dir().join(format!("{}.log", unique("gameday")));
    let server = dr_sandbox::SandboxServer::start(&dr_sandbox::LauncherPaths::from_build(), &log)
        .await
        .unwrap();
    // The world's own probes are replaced by the game day's stand-in.
    let unused = PrimaryEndpoint::start().await;
    let database = unique("fleetdb");
    let mut world = World::protecting_on(
        server.endpoint(),
        &unused,
        FlipMode::DataPlane,
        Some(&database),
    )
    .await;
    world.with_dr_snapshot(&database).await;
    let security_group =
        dr_sandbox::provision::network::security_group_id(&world.session, &database)
            .await
            .unwrap()
            .expect("provisioning made the database's security group");
    let t = &mut world.topology;
    t.snapshots.databases[0].security_group_ids = vec![security_group.clone()];
    // Scaled down: failback after one healthy round, not 15 minutes of them. The settle
    // wait stays above the alarm's 60 s period: Route 53 reads the data stream over it.
    t.failover.failback_after_healthy_seconds = 0;
    t.failover.failback_settle_seconds = 62;
    let threshold = t.failover.failure_threshold as usize;
    let work = tempfile::tempdir().unwrap();
    let plan = OutagePlan {
        topology: t.clone(),
        mode,
        route53_down,
        healthy_rounds: 2,
        // The restore takes the sandbox's restore time (seconds, as RDS takes minutes):
        // rounds half a second apart leave it room to finish within the outage rounds.
        max_outage_rounds: threshold + 16,
        recovery_rounds: 1,
        pause: std::time::Duration::from_millis(500),
        work_dir: work.path().to_owned(),
    };

    let report = simulate_outage(&lambda_paths(), &plan, |round| {
        eprintln!(
            "game day {mode}: round {} {:?} {}",
            round.number, round.phase, round.answer
        )
    })
    .await
    .unwrap_or_else(|e| panic!("game day {mode}: {e}"));

    assert_eq!(
        report.decided_in_round, threshold,
        "every probe fails from the outage's first round"
    );
    assert_eq!(
        report.primary_calls.attempted, 0,
        "nothing called primary's region while it was down: {:?}",
        report.primary_calls
    );
    let outage_rounds = || report.rounds.iter().filter(|r| r.phase == Phase::Outage);
    assert!(
        outage_rounds().all(|r| r.answer["down"] == true && r.answer["error"].is_null()),
        "{:#?}",
        report.rounds
    );
    // The runbook restored into a database of its own: named for it.
    let audits = world.audits().await;
    let runbook_id = audits[0].runbook.id.clone();
    let target = dr_core::snapshots::failover_target(&database, &runbook_id).unwrap();
    assert!(
        report
            .runbook_notes
            .contains(&format!("{target} available at")),
        "{}",
        report.runbook_notes
    );
    // Where Route 53's data plane points (read behind the outage, which is over by now).
    assert_eq!(world.route53_answer().await, Some(Side::Dr));

    // The database landed in the application's network, never publicly.
    let restored = world
        .session
        .rds_in(Side::Dr, &world.topology.dr.region)
        .describe_db_instances()
        .db_instance_identifier(&target)
        .send()
        .await
        .unwrap();
    let restored = &restored.db_instances()[0];
    assert_eq!(
        restored
            .db_subnet_group()
            .and_then(|g| g.db_subnet_group_name()),
        world.topology.snapshots.databases[0]
            .subnet_group
            .as_ref()
            .map(|g| g.as_str())
    );
    let groups: Vec<_> = restored
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .collect();
    assert_eq!(groups, [security_group.as_str()]);
    assert_eq!(restored.publicly_accessible(), Some(false));
    assert_eq!(restored.deletion_protection(), Some(true));

    let notifications = world.notifications().await;
    assert!(
        notifications
            .iter()
            .any(|n| n.contains("FAILED OVER to DR")),
        "{notifications:?}"
    );
    let audits = world.audits().await;
    assert_eq!(audits.len(), 1, "{audits:?}");
    assert_eq!(audits[0].runbook.kind, RunbookKind::Failover);
    assert_eq!(audits[0].runbook.by, "health-checker");

    // Failback, as an operator runs it: primary catches up with DR, then traffic returns.
    let config = work.path().join("health-checker.toml");
    let refused = drctl(&config, &["failback", "--yes"]).await;
    assert!(
        !refused.0 && refused.2.contains("reconcile"),
        "failback before the reverse reconcile: {refused:?}"
    );
    let reconciled = drctl(
        &config,
        &["reconcile", "--direction", "dr-to-primary", "--apply"],
    )
    .await;
    assert!(reconciled.0, "{reconciled:?}");
    // DR's restored database took the game day's writes: failback says so and waits for the
    // operator's word, which goes on record.
    let undecided = drctl(&config, &["failback", "--yes"]).await;
    assert!(
        !undecided.0 && undecided.2.contains("--carry-back-dr-database"),
        "failback before a choice about DR's database: {undecided:?}"
    );
    let started = Instant::now();
    let failback = drctl(
        &config,
        &[
            "failback",
            "--yes",
            "--discard-dr-database-writes",
            "--reason",
            "game day: no patient data",
        ],
    )
    .await;
    assert!(failback.0, "{failback:?}");
    // Restored with deletion protection (as configured): left for a person, loudly.
    assert!(
        failback
            .1
            .contains("NOT RETIRED: deletion protection is on"),
        "{failback:?}"
    );
    eprintln!(
        "game day {mode}: decided {:.1} s after the outage began, runbook finished after {:.1} s; calls to primary's region {:?}, to Route 53's control plane {:?}; failback took {:.1} s (settle {} s)",
        report.to_decision.as_secs_f64(),
        report.to_failed_over.as_secs_f64(),
        report.primary_calls,
        report.route53_calls,
        started.elapsed().as_secs_f64(),
        world.topology.failover.failback_settle_seconds
    );
    assert_eq!(world.route53_answer().await, Some(Side::Primary));
    let state = dr_aws::failover::FailoverPorts::new(&world.session, &world.topology)
        .store
        .load()
        .await
        .unwrap()
        .unwrap();
    use dr_core::failover::StateStore;
    assert_eq!(state.record.state.mode, Mode::Healthy);
    assert!(state.record.runbook.is_none(), "fenced and finished");
    let kinds: Vec<_> = world
        .audits()
        .await
        .iter()
        .map(|a| a.runbook.kind)
        .collect();
    assert_eq!(kinds, [RunbookKind::Failback, RunbookKind::Failover]);
    drop(unused);
    server.stop().await.unwrap();
}

/// The real `drctl` on the game day's configuration, as the operator.
async fn drctl(config: &Path, args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new(binary("drctl"))
        .current_dir(repo_root())
        .env("DRCTL_CONFIG", config)
        .env("USER", "oncall")
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
