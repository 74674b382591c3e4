//! Failback with the database, through `drctl` as an operator runs it (the operators' role,
//! IAM enforced from the CDK app): refused until the operator chooses what becomes of the
//! writes DR's restored database took; carried back, a snapshot of it is in primary's
//! account and region; discarded, the audit says so with the reason; either way the
//! restored database is retired with a final snapshot kept.

use aws_sdk_rds::error::ProvideErrorMetadata;
use dr_core::failover::{AuditEntry, DatabaseChoice, Mode, RunbookKind};
use dr_core::snapshots::{carried_name, failover_target, final_name};
use dr_core::{FlipMode, Side};

use crate::failover::{finish_runbook, now, World};
use crate::helpers::{shared_endpoint, unique};
use crate::primary_endpoint::PrimaryEndpoint;
use crate::restores::copy_to_dr;

/// A failover that restored `database` into DR, finished; primary healthy again and
/// reconciled: ready for `drctl failback`. The restored database's name.
async fn failed_over(endpoint: &PrimaryEndpoint, database: &str) -> (World, String) {
    let world = World::configured(&shared_endpoint(), endpoint, FlipMode::DataPlane, |t| {
        t.snapshots.databases.truncate(1);
        let db = &mut t.snapshots.databases[0];
        db.identifier = database.parse().unwrap();
        // Retirement is what is tested here; the game day tries deletion protection.
        db.deletion_protection = false;
    })
    .await;
    dr_sandbox::provision::snapshots::ensure_instance(&world.session, &world.topology, database)
        .await
        .unwrap();
    let (kind, policy) = world.topology.snapshot_policies().remove(0);
    copy_to_dr(&world, kind, &policy).await;
    let ports = world.ports();
    let controller = ports.controller();
    let started = controller
        .force_failover("oncall", "regional outage", now())
        .await
        .unwrap();
    let failover = finish_runbook(&controller, started).await;
    let round = dr_aws::probes::run_round(&world.probes(), now()).await;
    controller.round(round).await.unwrap();
    controller.reverse_reconciled(now()).await.unwrap();
    let target = failover_target(database, &failover.id).unwrap();
    drop(ports);
    (world, target)
}

/// `drctl` on the world's own topology (its database, state table, thresholds), written to
/// a config file as an operator's would be; drctl assumes the operators' roles from it.
async fn drctl(world: &World, args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("drctl.toml");
    std::fs::write(&config, toml::to_string(&world.topology).unwrap()).unwrap();
    let output = tokio::process::Command::new(crate::e2e::binary("drctl"))
        .current_dir(crate::e2e::repo_root())
        .env("DRCTL_CONFIG", &config)
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

/// `drctl failback` with `first` args, then again (as the operator would, the recorded
/// choice standing) until the runbook finishes; every run's stdout.
async fn fail_back(world: &World, first: &[&str]) -> Vec<String> {
    let mut outputs = Vec::new();
    let mut args = vec!["failback", "--yes"];
    args.extend_from_slice(first);
    for _ in 0..12 {
        let (ok, stdout, stderr) = drctl(world, &args).await;
        assert!(ok, "{stdout}\n{stderr}");
        let finished = stdout.contains("finished");
        outputs.push(stdout);
        if finished {
            return outputs;
        }
        args = vec!["failback", "--yes"];
    }
    panic!("failback never finished: {outputs:#?}");
}

async fn failback_audit(world: &World) -> AuditEntry {
    world
        .audits()
        .await
        .into_iter()
        .find(|a| a.runbook.kind == RunbookKind::Failback)
        .expect("the failback's audit")
}

/// The restored database is retired (gone or deleting) and its final snapshot kept in DR.
async fn assert_retired(world: &World, database: &str, target: &str, failback: &str) {
    let dr = world.session.rds_in(Side::Dr, &world.topology.dr.region);
    match dr
        .describe_db_instances()
        .db_instance_identifier(target)
        .send()
        .await
    {
        Err(e) => assert_eq!(e.code(), Some("DBInstanceNotFound"), "{e:?}"),
        Ok(found) => assert_eq!(
            found.db_instances()[0].db_instance_status(),
            Some("deleting")
        ),
    }
    let kept = dr
        .describe_db_snapshots()
        .db_snapshot_identifier(final_name(database, failback).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(kept.db_snapshots().len(), 1, "the final snapshot is kept");
}

#[tokio::test]
async fn failback_is_refused_until_a_choice_and_carries_dr_s_writes_into_primary_s_account_and_region(
) {
    let endpoint = PrimaryEndpoint::start().await;
    let database = unique("fleetdb");
    let (world, target) = failed_over(&endpoint, &database).await;

    // Without a choice: refused, naming the database DR wrote to; nothing moved.
    let (ok, stdout, stderr) = drctl(&world, &["failback", "--yes"]).await;
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains(&target)
            && stderr.contains("--carry-back-dr-database")
            && stderr.contains("--discard-dr-database-writes"),
        "{stderr}"
    );
    assert_eq!(world.route53_answer().await, Some(Side::Dr));

    // Carried back: the first run flips and starts, later runs continue.
    let outputs = fail_back(&world, &["--carry-back-dr-database"]).await;
    assert!(outputs.len() > 1, "RDS's work spans runs: {outputs:#?}");
    // Traffic first (Route 53's reading of the flip is the failover tests' business: here
    // the settle wait is 0), then DR's database, continued by the later runs.
    assert!(
        outputs[0].contains("step done  Flip") && outputs[0].contains("drctl failback` again"),
        "{outputs:#?}"
    );

    let audit = failback_audit(&world).await;
    assert_eq!(
        audit.runbook.dr_databases.as_ref().unwrap().choice,
        Some(DatabaseChoice::CarryBack)
    );
    let carried = carried_name(&database, &audit.runbook.id).unwrap();
    assert!(
        audit
            .runbook
            .notes
            .iter()
            .any(|n| n.contains(&format!("CARRIED BACK as snapshot {carried}"))),
        "{:?}",
        audit.runbook.notes
    );
    // In primary's account and region, available, tagged with where it came from.
    let primary = world
        .session
        .rds_in(Side::Primary, &world.topology.primary.region);
    let found = primary
        .describe_db_snapshots()
        .db_snapshot_identifier(&carried)
        .send()
        .await
        .unwrap();
    let snapshot = &found.db_snapshots()[0];
    assert_eq!(snapshot.status(), Some("available"));
    assert!(snapshot.db_snapshot_arn().unwrap().starts_with(&format!(
        "arn:aws:rds:{}:{}:snapshot:",
        world.topology.primary.region, world.topology.primary.account_id
    )));
    assert!(
        snapshot
            .tag_list()
            .iter()
            .any(|t| t.key() == Some("dr:carried-back-from") && t.value() == Some(&target)),
        "{snapshot:?}"
    );
    assert_retired(&world, &database, &target, &audit.runbook.id).await;

    let state = dr_aws::failover::FailoverPorts::new(&world.session, &world.topology)
        .store
        .load()
        .await
        .unwrap()
        .unwrap();
    use dr_core::failover::StateStore;
    assert_eq!(state.record.state.mode, Mode::Healthy);
}

#[tokio::test]
async fn a_discard_goes_on_record_with_its_reason_and_the_dr_database_is_retired() {
    let endpoint = PrimaryEndpoint::start().await;
    let database = unique("fleetdb");
    let (world, target) = failed_over(&endpoint, &database).await;

    fail_back(
        &world,
        &[
            "--discard-dr-database-writes",
            "--reason",
            "drill data only",
        ],
    )
    .await;

    let audit = failback_audit(&world).await;
    assert_eq!(
        audit.runbook.dr_databases.as_ref().unwrap().choice,
        Some(DatabaseChoice::Discard {
            reason: "drill data only".to_owned()
        })
    );
    assert!(
        audit.runbook.notes.iter().any(|n| n.contains("DISCARDED")
            && n.contains("drill data only")
            && n.contains(&target)),
        "{:?}",
        audit.runbook.notes
    );
    // Nothing carried back.
    let primary = world
        .session
        .rds_in(Side::Primary, &world.topology.primary.region);
    let carried = primary
        .describe_db_snapshots()
        .db_snapshot_identifier(carried_name(&database, &audit.runbook.id).unwrap())
        .send()
        .await;
    assert!(carried.is_err(), "{carried:?}");
    assert_retired(&world, &database, &target, &audit.runbook.id).await;
}
