//! The failover's recovery with an Aurora global database's secondary as a source: chosen
//! by its data time, promoted in place once per runbook, never reused by another.

use super::*;
use crate::snapshots::{GlobalSecondary, GlobalSecondaryPolicy, Lag, TAG_DATA_TIME};

const SECONDARY_ARN: &str = "arn:aws:rds:us-west-2:111111111111:cluster:fleetcl-dr";

/// Primary's account in the DR region: a headless secondary of `fleet-global`, and its
/// instances once created.
#[derive(Default)]
struct Global {
    secondary: Mutex<Option<GlobalSecondary>>,
    instances: Mutex<BTreeMap<String, String>>,
    detaches: Mutex<u32>,
}

impl Global {
    /// A member of the global database whose newest lag datapoint, `at_ms_ago` old, says
    /// `lag_ms`.
    fn member(at_ms_ago: EpochMillis, lag_ms: EpochMillis) -> Self {
        let global = Self::default();
        *global.secondary.lock().unwrap() = Some(GlobalSecondary {
            arn: SECONDARY_ARN.to_owned(),
            global_cluster: Some("fleet-global".to_owned()),
            status: "available".to_owned(),
            endpoint: Some(DatabaseEndpoint {
                address: "fleetcl-dr.cluster.us-west-2".to_owned(),
                port: 5432,
            }),
            tags: BTreeMap::new(),
            members: Vec::new(),
            lag: Some(Lag {
                at_ms: NOW - at_ms_ago,
                lag_ms,
            }),
        });
        global
    }

    fn with(&self, change: impl FnOnce(&mut GlobalSecondary)) {
        change(self.secondary.lock().unwrap().as_mut().unwrap());
    }

    fn now(&self) -> GlobalSecondary {
        self.secondary.lock().unwrap().clone().unwrap()
    }
}

impl ReplicatedBackupStore for Global {
    async fn replicated(&self, _: &str) -> Result<Option<ReplicatedBackup>, PortError> {
        Ok(None)
    }
    async fn start_replication(&self, _: &str, _: u32, _: &str) -> Result<(), PortError> {
        Ok(())
    }
    async fn restore_latest(
        &self,
        _: &str,
        _: &str,
        _: &RestoreSettings,
        _: &[(String, String)],
    ) -> Result<(), PortError> {
        Ok(())
    }
    async fn database(&self, _: &str) -> Result<Option<DescribedDatabase>, PortError> {
        Ok(None)
    }
}

impl GlobalSecondaryStore for Global {
    async fn secondary(&self, _: &str) -> Result<Option<GlobalSecondary>, PortError> {
        Ok(self.secondary.lock().unwrap().clone())
    }
    async fn detach(&self, global_cluster: &str, arn: &str) -> Result<(), PortError> {
        assert_eq!((global_cluster, arn), ("fleet-global", SECONDARY_ARN));
        *self.detaches.lock().unwrap() += 1;
        // RDS works on it a while, as the sandbox's promotion does.
        self.with(|s| {
            s.global_cluster = None;
            s.status = "modifying".to_owned();
            s.lag = None;
        });
        Ok(())
    }
    async fn tag(&self, arn: &str, tags: &[(String, String)]) -> Result<(), PortError> {
        assert_eq!(arn, SECONDARY_ARN);
        self.with(|s| s.tags.extend(tags.iter().cloned()));
        Ok(())
    }
    async fn instance(&self, name: &str) -> Result<Option<DescribedDatabase>, PortError> {
        Ok(self
            .instances
            .lock()
            .unwrap()
            .get(name)
            .map(|status| DescribedDatabase {
                status: status.clone(),
                endpoint: None,
                tags: BTreeMap::new(),
            }))
    }
    async fn create_instance(
        &self,
        cluster: &str,
        instance: &str,
        _: &RestoreSettings,
        _: &[(String, String)],
    ) -> Result<InstanceCreation, PortError> {
        assert_eq!(cluster, "fleetcl-dr");
        if self.now().status != "available" {
            return Ok(InstanceCreation::Later);
        }
        self.instances
            .lock()
            .unwrap()
            .insert(instance.to_owned(), "creating".to_owned());
        self.with(|s| s.members.push(instance.to_owned()));
        Ok(InstanceCreation::Started)
    }
}

fn cluster_policy() -> (DatabaseKind, SnapshotPolicy) {
    let (_, mut policy) = policy("fleetcl", false);
    policy.global_secondary = Some(GlobalSecondaryPolicy {
        cluster: "fleetcl-dr".to_owned(),
        instances: 1,
        instance_class: None,
    });
    (DatabaseKind::Cluster, policy)
}

/// The application's directory in DR: announcements are not what these tests look at.
struct Directory;

impl crate::snapshots::DatabaseDirectory for Directory {
    async fn publish(&self, _: &crate::snapshots::DatabaseLocation) -> Result<(), PortError> {
        Ok(())
    }

    fn name_of(&self, database: &str) -> String {
        format!("/iot-dr/databases/{database}")
    }

    async fn withdraw(&self, _: &str) -> Result<(), PortError> {
        Ok(())
    }
}

fn recovery(
    copy_minutes_old: EpochMillis,
    global: Global,
) -> SnapshotRecovery<Rds, Global, ManualClock, Directory> {
    SnapshotRecovery {
        stores: Rds::with_copies("fleetcl", vec![copy_minutes_old * MINUTE]),
        replicated: global,
        databases: vec![cluster_policy()],
        dr_region: "us-west-2".into(),
        clock: ManualClock::at(NOW),
        ready_timeout_ms: 3_600_000,
        directory: Directory,
        primary_account: "111111111111".into(),
        credentials: std::collections::BTreeMap::new(),
    }
}

#[tokio::test]
async fn the_secondary_with_the_newest_data_is_promoted_in_place_with_its_rpo_before_and_after() {
    // Given a snapshot copy an hour old and a secondary 900 ms behind 30 s ago.
    let recovery = recovery(60, Global::member(30_000, 900));
    let data_ms = NOW - 30_000 - 900;

    // When the failover starts: the secondary is claimed, then detached (promoted), and no
    // snapshot is restored.
    let notes = recovery.start("failover-1").await;
    assert_eq!(
        notes,
        [format!(
            "fleetcl: PROMOTING fleetcl-dr in place (global database fleet-global, detach and promote in us-west-2, primary's account): RPO before promotion 900 ms, data time {data_ms} ms (age 30 s)"
        )]
    );
    let global = &recovery.replicated;
    assert_eq!(*global.detaches.lock().unwrap(), 1);
    let promoted = global.now();
    assert_eq!(promoted.tags[TAG_RUNBOOK], "failover-1");
    assert_eq!(promoted.tags[TAG_DATA_TIME], data_ms.to_string());
    assert!(recovery.stores.restore_of("fleetcl-failover-1").is_none());

    // Then it waits on RDS's promotion, then (headless) gives it its writer once available.
    let progress = waiting(recovery.ready("failover-1", NOW).await.unwrap());
    assert!(progress.contains("fleetcl-dr modifying"), "{progress}");
    global.with(|s| s.status = "available".to_owned());
    let progress = waiting(recovery.ready("failover-1", NOW).await.unwrap());
    assert!(progress.contains("fleetcl-dr-1 requested"), "{progress}");
    global
        .instances
        .lock()
        .unwrap()
        .insert("fleetcl-dr-1".to_owned(), "available".to_owned());
    let note = ready(recovery.ready("failover-1", NOW).await.unwrap());
    assert_eq!(
        note,
        format!(
            "fleetcl: fleetcl-dr (promoted) available at fleetcl-dr.cluster.us-west-2:5432, restored from {SECONDARY_ARN}, data time {data_ms} ms (age 30 s)"
        )
    );
    // Promoted once: every later look leaves it be.
    assert_eq!(*global.detaches.lock().unwrap(), 1);
}

#[tokio::test]
async fn promotion_is_idempotent_and_a_lost_detach_is_detached_again() {
    let recovery = recovery(60, Global::member(30_000, 900));
    let global = &recovery.replicated;
    // The claim landed, the detach's answer was lost (still a member).
    global.with(|s| {
        s.tags
            .insert(TAG_RUNBOOK.to_owned(), "failover-1".to_owned());
    });
    let notes = recovery.start("failover-1").await;
    assert!(
        notes[0].contains("already restoring for this runbook"),
        "{notes:?}"
    );
    assert_eq!(*global.detaches.lock().unwrap(), 0);
    let progress = waiting(recovery.ready("failover-1", NOW).await.unwrap());
    assert!(
        progress.contains("detaching from global database fleet-global"),
        "{progress}"
    );
    assert_eq!(*global.detaches.lock().unwrap(), 1);
    // A second start of the same runbook changes nothing.
    recovery.start("failover-1").await;
    recovery.ready("failover-1", NOW).await.unwrap();
    assert_eq!(*global.detaches.lock().unwrap(), 1);
}

#[tokio::test]
async fn a_secondary_promoted_by_an_earlier_runbook_is_not_reused_and_the_notes_say_so() {
    // Month 1's runbook promoted it; month 3's failover finds it standalone and tagged.
    let global = Global::member(30_000, 900);
    global.with(|s| {
        s.tags
            .insert(TAG_RUNBOOK.to_owned(), "failover-1".to_owned());
        s.global_cluster = None;
    });
    let recovery = recovery(60, global);
    let notes = recovery.start("failover-2").await;
    assert!(
        notes[0].starts_with("fleetcl: restoring into fleetcl-failover-2 from snapshot copy fleetcl-dr-0")
            && notes[0].contains("global-secondary: DescribeGlobalClusters: secondary cluster fleetcl-dr was already PROMOTED by runbook failover-1: NOT reusable"),
        "{notes:?}"
    );
    assert_eq!(*recovery.replicated.detaches.lock().unwrap(), 0);
    assert_eq!(recovery.replicated.now().tags[TAG_RUNBOOK], "failover-1");
    assert!(recovery.stores.restore_of("fleetcl-failover-2").is_some());
}

#[tokio::test]
async fn an_older_secondary_loses_to_a_newer_copy_and_one_without_lag_is_no_candidate() {
    // The lag datapoints stopped three hours ago (a stalled replication): a copy an hour
    // old holds newer data.
    let recovery = recovery(60, Global::member(180 * MINUTE, 900));
    let notes = recovery.start("failover-1").await;
    assert!(
        notes[0].contains("from snapshot copy fleetcl-dr-0"),
        "{notes:?}"
    );
    assert!(recovery.replicated.now().tags.is_empty(), "untouched");

    let global = Global::member(0, 0);
    global.with(|s| s.lag = None);
    let recovery = recovery_with(global);
    let notes = recovery.start("failover-1").await;
    assert!(
        notes[0].contains("from snapshot copy")
            && notes[0].contains("no recent AuroraGlobalDBReplicationLag datapoint"),
        "{notes:?}"
    );
}

fn recovery_with(global: Global) -> SnapshotRecovery<Rds, Global, ManualClock, Directory> {
    recovery(60, global)
}

#[tokio::test]
async fn a_secondary_that_is_the_only_source_and_not_promotable_fails_the_step_loudly() {
    // No snapshot copy at all; the secondary was promoted by an earlier runbook.
    let global = Global::member(30_000, 900);
    global.with(|s| {
        s.tags
            .insert(TAG_RUNBOOK.to_owned(), "failover-1".to_owned());
        s.global_cluster = None;
    });
    let recovery = SnapshotRecovery {
        stores: Rds::default(),
        ..recovery(60, global)
    };
    let notes = recovery.start("failover-2").await;
    assert!(
        notes[0].contains("restore not started")
            && notes[0].contains("PROMOTED by runbook failover-1"),
        "{notes:?}"
    );
    // Never "nothing restorable" (which finishes the runbook): the step fails every round.
    let error = recovery.ready("failover-2", NOW).await.unwrap_err();
    assert!(error.message.contains("NOT reusable"), "{error}");
    assert!(!error.retryable);
}
