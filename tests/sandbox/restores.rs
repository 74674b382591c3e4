//! A failover's database restore on RDS's timeline (the launcher's slow-restore patch: a
//! restore stays `creating` for a while, and a restored cluster takes DB instances only once
//! available), and one restore per runbook: a second failover restores the newer snapshot
//! into a database of its own and never announces the first one's.

use dr_aws::rds::RdsSnapshotStore;
use dr_core::failover::{Mode, Runbook, StateStore};
use dr_core::snapshots::{
    cluster_instance, failover_target, tick, DatabaseKind, DatabaseRestorer, Location,
    SnapshotPolicy, SnapshotStore, TAG_RESTORE_SOURCE, TAG_RUNBOOK,
};
use dr_core::FlipMode;

use crate::failover::{finish_runbook, now, World};
use crate::helpers::{as_function, shared_endpoint, unique};
use crate::primary_endpoint::PrimaryEndpoint;

/// Run the snapshot controller (as its own role) until DR holds a copy of the newest source.
pub(crate) async fn copy_to_dr(
    world: &World,
    kind: DatabaseKind,
    policy: &SnapshotPolicy,
) -> String {
    let controller = as_function(&world.topology, "snapshot-controller").await;
    let store = RdsSnapshotStore::new(&controller, &world.topology, kind);
    for _ in 0..8 {
        let report = tick(&store, policy, now()).await.unwrap();
        assert!(report.failed.is_empty(), "{:?}", report.failed);
    }
    let observed = store.observe(&policy.database).await.unwrap();
    let newest_source = observed
        .iter()
        .filter(|s| s.location == Location::Source)
        .max_by_key(|s| s.created_ms)
        .expect("a source snapshot")
        .id
        .clone();
    observed
        .iter()
        .find(|s| s.location == Location::Dr && s.source_id() == Some(newest_source.as_str()))
        .map(|s| s.id.clone())
        .unwrap_or_else(|| panic!("no DR copy of {newest_source}: {observed:#?}"))
}

#[tokio::test]
async fn an_aurora_failover_creates_the_instances_once_the_cluster_is_available_and_finishes() {
    let endpoint = PrimaryEndpoint::start().await;
    let cluster = unique("fleetcl");
    let world = World::configured(&shared_endpoint(), &endpoint, FlipMode::DataPlane, |t| {
        t.snapshots.databases.truncate(1);
        let db = &mut t.snapshots.databases[0];
        db.identifier = cluster.parse().unwrap();
        db.kind = DatabaseKind::Cluster;
        db.instances = Some(2);
        // Replicated automated backups are for instances only.
        db.backup_replication = None;
    })
    .await;
    dr_sandbox::provision::snapshots::ensure_cluster(&world.session, &world.topology, &cluster)
        .await
        .unwrap();
    let (kind, policy) = world.topology.snapshot_policies().remove(0);
    let copy = copy_to_dr(&world, kind, &policy).await;

    let ports = world.ports();
    let controller = ports.controller();
    let decided = controller
        .force_failover("oncall", "aurora game day", now())
        .await
        .unwrap();
    // Traffic moved; the cluster is still restoring (RDS's time), so the runbook waits and
    // says on what.
    assert_eq!(decided.record.state.mode, Mode::FailedOver);
    let pending = decided
        .record
        .runbook
        .clone()
        .expect("waiting for the database");
    let progress = pending.progress.clone().unwrap_or_default();
    assert!(progress.contains("creating"), "{progress}");
    // `drctl status` shows where the pending runbook stands: its progress and its notes.
    let (_, stdout, stderr) =
        crate::cli::drctl(&world.topology, &["status", "--output", "json"]).await;
    let status: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    let shown = &status["health"]["runbook_pending"];
    assert_eq!(shown["id"], pending.id.as_str(), "{status:#}");
    assert!(
        shown["progress"]
            .as_str()
            .is_some_and(|p| p.contains("creating")),
        "{status:#}"
    );
    assert!(
        shown["notes"]
            .as_str()
            .is_some_and(|n| n.contains("restoring into")),
        "{status:#}"
    );

    let runbook: Runbook = finish_runbook(&controller, decided).await;
    let target = failover_target(&cluster, &runbook.id).unwrap();
    let note = runbook.notes.last().unwrap();
    assert!(
        note.contains(&format!("{target} available at")) && note.contains(&copy),
        "{:?}",
        runbook.notes
    );
    let described = world
        .session
        .rds_in(dr_core::Side::Dr, &world.topology.dr.region)
        .describe_db_clusters()
        .db_cluster_identifier(&target)
        .send()
        .await
        .unwrap();
    let mut members: Vec<_> = described.db_clusters()[0]
        .db_cluster_members()
        .iter()
        .filter_map(|m| m.db_instance_identifier().map(str::to_owned))
        .collect();
    members.sort();
    assert_eq!(
        members,
        [cluster_instance(&target, 1), cluster_instance(&target, 2)]
    );
    let state = ports.store.load().await.unwrap().unwrap();
    assert!(state.record.runbook.is_none(), "the runbook finished");
}

#[tokio::test]
async fn a_second_failover_after_a_failback_restores_the_newer_snapshot_into_its_own_database() {
    let endpoint = PrimaryEndpoint::start().await;
    let database = unique("fleetdb");
    let world = World::protecting(&endpoint, FlipMode::DataPlane, Some(&database)).await;
    dr_sandbox::provision::snapshots::ensure_instance(&world.session, &world.topology, &database)
        .await
        .unwrap();
    let (kind, policy) = world.topology.snapshot_policies().remove(0);
    let first_copy = copy_to_dr(&world, kind, &policy).await;
    let ports = world.ports();
    let controller = ports.controller();
    let dr = RdsSnapshotStore::new(&world.session, &world.topology, kind);

    // Month 1: a failover restores the first snapshot.
    let started = controller
        .force_failover("oncall", "first outage", now())
        .await
        .unwrap();
    let first = finish_runbook(&controller, started).await;
    let first_target = failover_target(&database, &first.id).unwrap();

    // Primary is back: reverse reconcile, fail back.
    let round = dr_aws::probes::run_round(&world.probes(), now()).await;
    controller.round(round).await.unwrap();
    controller.reverse_reconciled(now()).await.unwrap();
    // DR's database took no writes worth keeping here: discarded, on record (deletion
    // protection, on by default, keeps it where it is).
    let discard = dr_core::failover::DatabaseChoice::Discard {
        reason: "test data".to_owned(),
    };
    let back = controller
        .failback("oncall", Some(discard), now())
        .await
        .unwrap();
    assert_eq!(back.record.state.mode, Mode::Healthy);

    // Month 3: a newer snapshot reaches DR (taken now, whatever the schedule says), then
    // primary fails again.
    let controller_session = as_function(&world.topology, "snapshot-controller").await;
    let snapshots = RdsSnapshotStore::new(&controller_session, &world.topology, kind);
    let due_now = SnapshotPolicy {
        interval_ms: 0,
        ..policy.clone()
    };
    tick(&snapshots, &due_now, now()).await.unwrap();
    let newer_copy = copy_to_dr(&world, kind, &policy).await;
    assert_ne!(newer_copy, first_copy);
    // Past the dwell time a failover is the operator's call here.
    let second_started = controller
        .force_failover("oncall", "second outage", now())
        .await
        .unwrap();
    let second = finish_runbook(&controller, second_started).await;
    let second_target = failover_target(&database, &second.id).unwrap();
    assert_ne!(second_target, first_target);

    // The second restore is a database of its own, from the newer snapshot, and the notes
    // and the audit say so.
    let restored = dr
        .database(kind, &second_target)
        .await
        .unwrap()
        .expect("the second runbook's database");
    assert_eq!(restored.tags[TAG_RUNBOOK], second.id);
    assert_eq!(restored.tags[TAG_RESTORE_SOURCE], newer_copy);
    assert!(
        second.notes.iter().any(|n| n.contains(&format!(
            "restoring into {second_target} from snapshot copy {newer_copy}"
        ))),
        "{:?}",
        second.notes
    );
    assert!(
        second
            .notes
            .last()
            .is_some_and(|n| n.contains(&format!("{second_target} available at"))
                && !n.contains(&first_target)),
        "{:?}",
        second.notes
    );
    let audits = world.audits().await;
    let audited = audits
        .iter()
        .find(|a| a.runbook.id == second.id)
        .expect("the second failover's audit");
    assert!(
        audited
            .runbook
            .notes
            .iter()
            .any(|n| n.contains(&newer_copy)),
        "{:?}",
        audited.runbook.notes
    );
    // The first runbook's database is still what it was.
    let first_db = dr.database(kind, &first_target).await.unwrap().unwrap();
    assert_eq!(first_db.tags[TAG_RESTORE_SOURCE], first_copy);
}
