//! Flow C's use cases over an in-memory RDS.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::*;
use crate::failover::{DatabaseRecovery, Readiness};
use crate::report::{emf, json};
use crate::snapshots::{
    BackupReplicationPolicy, DatabaseEndpoint, DescribedDatabase, InstanceCreation, Location,
    ReplicatedBackup, RestoreSettings, Snapshot, SnapshotState, TAG_DATABASE, TAG_MANAGED,
    TAG_RUNBOOK, TAG_SOURCE_SNAPSHOT, TAG_SOURCE_TIME,
};
use crate::snapshots::{NoGlobalSecondary, REPLICATED_BACKUPS, SNAPSHOT_COPY};
use crate::time::ManualClock;

const NOW: EpochMillis = 1_800_000_000_000;
const MINUTE: EpochMillis = 60_000;

/// RDS in DR: copies of each database of the given ages (minutes ago, oldest first: the
/// last is the newest), and the databases restored from them, each `creating` until the
/// test [`Rds::finish`]es it, as RDS does on its own time.
#[derive(Default)]
struct Rds {
    ages: Mutex<HashMap<String, Vec<EpochMillis>>>,
    unobservable: Vec<String>,
    /// Databases (and clusters' instances) by name.
    restored: Mutex<BTreeMap<String, Restore>>,
    /// CreateDBInstance calls into a cluster, answered or not: `<instance>`, or
    /// `<instance> refused` while the cluster is not available.
    creates: Mutex<Vec<String>>,
}

#[derive(Debug, Clone)]
struct Restore {
    kind: DatabaseKind,
    snapshot_id: String,
    tags: BTreeMap<String, String>,
    status: String,
}

impl Rds {
    fn with_copies(database: &str, ages: Vec<EpochMillis>) -> Self {
        let rds = Self::default();
        rds.ages.lock().unwrap().insert(database.to_owned(), ages);
        rds
    }

    /// RDS finishes the restore (or instance) `name`.
    fn finish(&self, name: &str) {
        self.restored.lock().unwrap().get_mut(name).unwrap().status = "available".to_owned();
    }

    fn restore_of(&self, name: &str) -> Option<Restore> {
        self.restored.lock().unwrap().get(name).cloned()
    }

    fn copies(&self, database: &str) -> Vec<Snapshot> {
        self.ages
            .lock()
            .unwrap()
            .get(database)
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, age)| Snapshot {
                id: format!("{database}-dr-{i}"),
                arn: format!("arn:{database}:{i}"),
                location: Location::Dr,
                state: SnapshotState::Available,
                created_ms: NOW - age + MINUTE,
                tags: BTreeMap::from([
                    (TAG_MANAGED.to_owned(), "true".to_owned()),
                    (TAG_DATABASE.to_owned(), database.to_owned()),
                    (TAG_SOURCE_TIME.to_owned(), (NOW - age).to_string()),
                    (TAG_SOURCE_SNAPSHOT.to_owned(), format!("src-{i}")),
                ]),
                kms_key_id: Some("dr-key".to_owned()),
                aws_managed_key: false,
                shared_with: Vec::new(),
            })
            .collect()
    }
}

impl SnapshotStore for Rds {
    async fn observe(&self, database: &str) -> Result<Vec<Snapshot>, PortError> {
        if self.unobservable.iter().any(|d| d == database) {
            return Err(PortError::transient("DescribeDBSnapshots", "timed out"));
        }
        Ok(self.copies(database))
    }
    async fn create_source(
        &self,
        _: &str,
        _: &str,
        _: &[(String, String)],
    ) -> Result<(), PortError> {
        Ok(())
    }
    async fn copy(
        &self,
        _: Location,
        _: &str,
        _: &str,
        _: &str,
        _: &[(String, String)],
    ) -> Result<(), PortError> {
        Ok(())
    }
    async fn share(&self, _: &str, _: &str) -> Result<(), PortError> {
        Ok(())
    }
    async fn delete(&self, _: Location, _: &str) -> Result<(), PortError> {
        Ok(())
    }
}

impl DatabaseRestorer for Rds {
    async fn restorable(&self, database: &str) -> Result<Vec<Snapshot>, PortError> {
        Ok(self.copies(database))
    }
    async fn restore(
        &self,
        kind: DatabaseKind,
        snapshot_id: &str,
        target: &str,
        _: &RestoreSettings,
        tags: &[(String, String)],
    ) -> Result<(), PortError> {
        // "Already exists" is success, as RDS's answer is read by the adapter.
        self.restored
            .lock()
            .unwrap()
            .entry(target.to_owned())
            .or_insert_with(|| Restore {
                kind,
                snapshot_id: snapshot_id.to_owned(),
                tags: tags.iter().cloned().collect(),
                status: "creating".to_owned(),
            });
        Ok(())
    }
    async fn database(
        &self,
        kind: DatabaseKind,
        target: &str,
    ) -> Result<Option<DescribedDatabase>, PortError> {
        Ok(self
            .restore_of(target)
            .filter(|r| r.kind == kind)
            .map(|r| DescribedDatabase {
                endpoint: (r.status == "available").then(|| DatabaseEndpoint {
                    address: format!("{target}.dr"),
                    port: 5432,
                }),
                status: r.status,
                tags: r.tags,
            }))
    }
    async fn create_cluster_instance(
        &self,
        cluster: &str,
        instance: &str,
        _: &RestoreSettings,
        tags: &[(String, String)],
    ) -> Result<InstanceCreation, PortError> {
        let available = self
            .restore_of(cluster)
            .is_some_and(|c| c.status == "available");
        if !available {
            self.creates
                .lock()
                .unwrap()
                .push(format!("{instance} refused"));
            return Ok(InstanceCreation::Later);
        }
        self.creates.lock().unwrap().push(instance.to_owned());
        self.restored.lock().unwrap().insert(
            instance.to_owned(),
            Restore {
                kind: DatabaseKind::Instance,
                snapshot_id: String::new(),
                tags: tags.iter().cloned().collect(),
                status: "creating".to_owned(),
            },
        );
        Ok(InstanceCreation::Started)
    }
    async fn delete_database(&self, _: DatabaseKind, _: &str) -> Result<(), PortError> {
        Ok(())
    }
}

impl Stores for Rds {
    type Store = Rds;
    fn of(&self, _: DatabaseKind) -> &Rds {
        self
    }
}

/// Replicated backups `minutes_old`, or none.
struct Backups(Option<EpochMillis>);

impl ReplicatedBackupStore for Backups {
    async fn replicated(&self, database: &str) -> Result<Option<ReplicatedBackup>, PortError> {
        Ok(self.0.map(|minutes| ReplicatedBackup {
            arn: format!("arn:aws:rds:us-west-2:111111111111:auto-backup:ab-{database}"),
            status: "replicating".to_owned(),
            latest_restorable_ms: Some(NOW - minutes * MINUTE),
        }))
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

/// No global database here ([`global`] has one).
impl GlobalSecondaryStore for Backups {
    async fn secondary(&self, c: &str) -> Result<Option<GlobalSecondary>, PortError> {
        NoGlobalSecondary.secondary(c).await
    }
    async fn detach(&self, g: &str, c: &str) -> Result<(), PortError> {
        NoGlobalSecondary.detach(g, c).await
    }
    async fn tag(&self, c: &str, t: &[(String, String)]) -> Result<(), PortError> {
        NoGlobalSecondary.tag(c, t).await
    }
    async fn instance(&self, i: &str) -> Result<Option<DescribedDatabase>, PortError> {
        NoGlobalSecondary.instance(i).await
    }
    async fn create_instance(
        &self,
        c: &str,
        i: &str,
        s: &RestoreSettings,
        t: &[(String, String)],
    ) -> Result<InstanceCreation, PortError> {
        NoGlobalSecondary.create_instance(c, i, s, t).await
    }
}

#[path = "service_global_tests.rs"]
mod global;

fn policy(database: &str, replicated: bool) -> (DatabaseKind, SnapshotPolicy) {
    let policy = SnapshotPolicy {
        database: database.to_owned(),
        interval_ms: 240 * MINUTE,
        keep_count: 7,
        max_age_ms: 168 * 60 * MINUTE,
        regional_kms_key: "alias/dr-snapshots".to_owned(),
        dr_kms_key: "alias/dr-snapshots-dr".to_owned(),
        dr_account: "222222222222".to_owned(),
        max_copies_in_flight: 20,
        restore: RestoreSettings::default(),
        backup_replication: replicated.then(|| BackupReplicationPolicy {
            retention_days: 7,
            restore: RestoreSettings::default(),
        }),
        global_secondary: None,
    };
    (DatabaseKind::Instance, policy)
}

#[test]
fn the_newest_data_comes_first_and_a_tie_goes_to_dr_s_own_copy() {
    let copy = RestoreSource::SnapshotCopy {
        snapshot_id: "s".into(),
        data_ms: 10,
    };
    let backups = RestoreSource::ReplicatedBackups {
        arn: "a".into(),
        data_ms: 10,
    };
    let newer = RestoreSource::ReplicatedBackups {
        arn: "b".into(),
        data_ms: 20,
    };
    assert_eq!(newest_first([&backups, &copy]), [&copy, &backups]);
    assert_eq!(newest_first([&copy, &newer]), [&newer, &copy]);
}

#[tokio::test]
async fn a_tick_reports_the_rpo_of_the_best_source_and_of_each_source() {
    // Given fleetdb with a 3 h old copy and backups replicated 6 minutes ago, and audit
    // with a 2 h old copy only.
    let rds = Rds::with_copies("fleetdb", vec![180 * MINUTE]);
    rds.ages
        .lock()
        .unwrap()
        .insert("audit".to_owned(), vec![120 * MINUTE]);
    let databases = [policy("fleetdb", true), policy("audit", false)];
    // When the controller ticks.
    let report = tick_all(&rds, &Backups(Some(6)), &databases, &ManualClock::at(NOW)).await;
    // Then fleetdb's RPO is the backups' 6 minutes, audit's its copy's 2 hours.
    assert_eq!(report.databases[0].rpo_ms(), Some(6 * MINUTE));
    assert_eq!(report.databases[1].rpo_ms(), Some(120 * MINUTE));
    assert!(report.unobservable().is_empty());
    let document = json::render(&report);
    assert_eq!(document["databases"][0]["database"], "fleetdb");
    assert_eq!(document["databases"][0]["rpo_seconds"], 360.0);
    assert_eq!(
        document["databases"][0]["newest_restorable"],
        "fleetdb-dr-0"
    );
    assert_eq!(
        document["databases"][0]["sources"][0]["source"],
        SNAPSHOT_COPY
    );
    assert_eq!(
        document["databases"][0]["sources"][0]["rpo_seconds"],
        10_800.0
    );
    // And each RPO is a metric of its own, per database and per source.
    let lines: Vec<serde_json::Value> = emf::lines("snapshot-controller", &report, 1)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let per_source = lines
        .iter()
        .find(|l| l["Database"] == "fleetdb" && l["Source"] == REPLICATED_BACKUPS)
        .expect("the backups' own RPO line");
    assert_eq!(per_source["RpoSeconds"], 360.0);
}

#[tokio::test]
async fn a_database_that_cannot_be_observed_fails_the_invocation_and_the_others_still_tick() {
    let rds = Rds {
        unobservable: vec!["fleetdb".to_owned()],
        ..Rds::with_copies("audit", vec![120 * MINUTE])
    };
    let databases = [policy("fleetdb", false), policy("audit", false)];
    let report = tick_all(&rds, &Backups(None), &databases, &ManualClock::at(NOW)).await;
    assert_eq!(
        report.unobservable(),
        ["fleetdb: DescribeDBSnapshots: timed out"]
    );
    assert_eq!(report.databases[1].rpo_ms(), Some(120 * MINUTE));
    let document = json::render(&report);
    assert!(document["databases"][0]["error"]
        .as_str()
        .unwrap()
        .contains("cannot observe"));
}

/// The application's directory in DR: what "database ready" announced, and whether it
/// refuses (SSM throttling, a missing grant).
#[derive(Default)]
struct Directory {
    announced: Mutex<Vec<crate::snapshots::DatabaseLocation>>,
    refuse: std::sync::atomic::AtomicBool,
}

impl crate::snapshots::DatabaseDirectory for Directory {
    async fn publish(
        &self,
        location: &crate::snapshots::DatabaseLocation,
    ) -> Result<(), PortError> {
        if self.refuse.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(PortError::transient("PutParameter", "ThrottlingException"));
        }
        self.announced.lock().unwrap().push(location.clone());
        Ok(())
    }

    fn name_of(&self, database: &str) -> String {
        format!("/iot-dr/databases/{database}")
    }

    async fn withdraw(&self, _database: &str) -> Result<(), PortError> {
        Ok(())
    }
}

fn recovery(
    rds: Rds,
    backups: Backups,
    databases: Vec<(DatabaseKind, SnapshotPolicy)>,
) -> SnapshotRecovery<Rds, Backups, ManualClock, Directory> {
    SnapshotRecovery {
        stores: rds,
        replicated: backups,
        databases,
        dr_region: "us-west-2".into(),
        clock: ManualClock::at(NOW),
        ready_timeout_ms: 3_600_000,
        directory: Directory::default(),
        primary_account: "111111111111".into(),
        credentials: BTreeMap::from([(
            "fleetdb".to_owned(),
            "arn:aws:secretsmanager:us-west-2:222222222222:secret:fleetdb-AbCdEf".to_owned(),
        )]),
    }
}

fn waiting(readiness: Readiness) -> String {
    match readiness {
        Readiness::Waiting { progress, overdue } => {
            assert!(!overdue, "{progress}");
            progress
        }
        Readiness::Ready(note) => panic!("ready too early: {note}"),
    }
}

fn ready(readiness: Readiness) -> String {
    match readiness {
        Readiness::Ready(note) => note,
        Readiness::Waiting { progress, .. } => panic!("still waiting: {progress}"),
    }
}

#[tokio::test]
async fn a_failover_restores_each_database_into_its_own_then_waits_until_all_are_available() {
    let recovery = recovery(
        Rds::with_copies("fleetdb", vec![60 * MINUTE]),
        Backups(None),
        vec![policy("fleetdb", false)],
    );
    let notes = recovery.start("failover-1").await;
    assert_eq!(
        notes,
        [format!(
            "fleetdb: restoring into fleetdb-failover-1 from snapshot copy fleetdb-dr-0, data time {} ms (age 3600 s)",
            NOW - 60 * MINUTE
        )]
    );
    let progress = waiting(recovery.ready("failover-1", NOW - 30_000).await.unwrap());
    assert_eq!(
        progress,
        "databases not ready after 30 s: fleetdb: fleetdb-failover-1 creating"
    );
    // Nothing is announced while RDS works: the application would connect to nothing.
    assert!(recovery.directory.announced.lock().unwrap().is_empty());
    recovery.stores.finish("fleetdb-failover-1");
    // A directory that refuses keeps the step pending: not announced, not ready.
    recovery
        .directory
        .refuse
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let refused = recovery.ready("failover-1", NOW).await.unwrap_err();
    assert_eq!(refused.operation, "PutParameter");
    recovery
        .directory
        .refuse
        .store(false, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        ready(recovery.ready("failover-1", NOW).await.unwrap()),
        format!(
            "fleetdb: fleetdb-failover-1 available at fleetdb-failover-1.dr:5432, restored from fleetdb-dr-0, data time {} ms (age 3600 s)",
            NOW - 60 * MINUTE
        )
    );
    // The application reads where it is, in which account, from what, and how old.
    let announced = recovery.directory.announced.lock().unwrap().clone();
    assert_eq!(
        announced,
        [crate::snapshots::DatabaseLocation {
            database: "fleetdb".into(),
            restored_as: "fleetdb-failover-1".into(),
            kind: DatabaseKind::Instance,
            address: "fleetdb-failover-1.dr".into(),
            port: 5432,
            account: "222222222222".into(),
            region: "us-west-2".into(),
            source: "fleetdb-dr-0".into(),
            data_time_ms: NOW - 60 * MINUTE,
            runbook: "failover-1".into(),
            credentials_secret_arn: Some(
                "arn:aws:secretsmanager:us-west-2:222222222222:secret:fleetdb-AbCdEf".into()
            ),
            written_ms: NOW,
        }]
    );
}

#[tokio::test]
async fn aurora_instances_are_created_once_the_cluster_is_available_and_not_before() {
    // Given an Aurora cluster protected with two instances, restoring.
    let (_, mut cluster) = policy("fleetdb", false);
    cluster.restore.instances = 2;
    let recovery = recovery(
        Rds::with_copies("fleetdb", vec![60 * MINUTE]),
        Backups(None),
        vec![(DatabaseKind::Cluster, cluster)],
    );
    recovery.start("failover-1").await;
    let rds = &recovery.stores;
    assert_eq!(
        rds.restore_of("fleetdb-failover-1").unwrap().kind,
        DatabaseKind::Cluster
    );

    // When readiness is checked while the cluster is creating: no instance is asked for,
    // and the runbook waits.
    for _ in 0..3 {
        let progress = waiting(recovery.ready("failover-1", NOW).await.unwrap());
        assert!(
            progress.contains("fleetdb-failover-1 creating"),
            "{progress}"
        );
    }
    assert!(rds.creates.lock().unwrap().is_empty());

    // Then, once RDS has it available, the next look creates the writer and the reader,
    // tagged for the runbook, and still waits for them.
    rds.finish("fleetdb-failover-1");
    let progress = waiting(recovery.ready("failover-1", NOW).await.unwrap());
    assert!(
        progress.contains("fleetdb-failover-1-1 requested, fleetdb-failover-1-2 requested"),
        "{progress}"
    );
    assert_eq!(
        *rds.creates.lock().unwrap(),
        ["fleetdb-failover-1-1", "fleetdb-failover-1-2"]
    );
    assert_eq!(
        rds.restore_of("fleetdb-failover-1-1").unwrap().tags[TAG_RUNBOOK],
        "failover-1"
    );
    // A look while they create asks for nothing again.
    rds.finish("fleetdb-failover-1-1");
    let progress = waiting(recovery.ready("failover-1", NOW).await.unwrap());
    assert!(
        progress.contains("fleetdb-failover-1-2 creating"),
        "{progress}"
    );
    assert_eq!(rds.creates.lock().unwrap().len(), 2);
    // Ready once the cluster and all its instances are available.
    rds.finish("fleetdb-failover-1-2");
    let note = ready(recovery.ready("failover-1", NOW).await.unwrap());
    assert!(
        note.starts_with("fleetdb: fleetdb-failover-1 available at"),
        "{note}"
    );
}

#[tokio::test]
async fn a_second_failover_restores_the_newer_snapshot_into_a_new_database() {
    // Given a first failover whose restore is available.
    let recovery = recovery(
        Rds::with_copies("fleetdb", vec![90 * 24 * 60 * MINUTE]),
        Backups(None),
        vec![policy("fleetdb", false)],
    );
    recovery.start("failover-1").await;
    recovery.stores.finish("fleetdb-failover-1");
    ready(recovery.ready("failover-1", NOW).await.unwrap());

    // When, after a failback, a newer snapshot reaches DR and primary fails again.
    recovery
        .stores
        .ages
        .lock()
        .unwrap()
        .get_mut("fleetdb")
        .unwrap()
        .push(10 * MINUTE);
    let notes = recovery.start("failover-2").await;

    // Then the second runbook restores the newer snapshot into a database of its own, says
    // so, and waits for it rather than announcing the first one's.
    assert!(
        notes[0].starts_with(
            "fleetdb: restoring into fleetdb-failover-2 from snapshot copy fleetdb-dr-1"
        ) && notes[0].contains("(age 600 s)"),
        "{notes:?}"
    );
    assert_eq!(
        recovery
            .stores
            .restore_of("fleetdb-failover-2")
            .unwrap()
            .snapshot_id,
        "fleetdb-dr-1"
    );
    assert_eq!(
        recovery
            .stores
            .restore_of("fleetdb-failover-1")
            .unwrap()
            .snapshot_id,
        "fleetdb-dr-0",
        "the first runbook's database is left as it was"
    );
    let progress = waiting(recovery.ready("failover-2", NOW).await.unwrap());
    assert!(
        progress.contains("fleetdb-failover-2 creating"),
        "{progress}"
    );
    recovery.stores.finish("fleetdb-failover-2");
    let note = ready(recovery.ready("failover-2", NOW).await.unwrap());
    assert!(
        note.contains("fleetdb-failover-2 available at") && note.contains("from fleetdb-dr-1"),
        "{note}"
    );
}

#[tokio::test]
async fn a_foreign_database_under_the_runbook_s_name_is_a_loud_failure_never_success() {
    // Given a database under the name runbook failover-2 restores into, made by another
    // runbook (or by hand, untagged), available.
    for owner in [Some("failover-1"), None] {
        let rds = Rds::with_copies("fleetdb", vec![60 * MINUTE]);
        rds.restored.lock().unwrap().insert(
            "fleetdb-failover-2".to_owned(),
            Restore {
                kind: DatabaseKind::Instance,
                snapshot_id: "someone-else-s".to_owned(),
                tags: owner
                    .map(|o| (TAG_RUNBOOK.to_owned(), o.to_owned()))
                    .into_iter()
                    .collect(),
                status: "available".to_owned(),
            },
        );
        let recovery = recovery(rds, Backups(None), vec![policy("fleetdb", false)]);

        // When runbook failover-2 starts and checks readiness.
        let notes = recovery.start("failover-2").await;
        let error = recovery.ready("failover-2", NOW).await.unwrap_err();

        // Then the note and the error say so, nothing is restored over it, and the step
        // never reports success.
        assert!(
            notes[0].contains("FOREIGN database fleetdb-failover-2")
                && notes[0].contains("expected dr:runbook=failover-2"),
            "{notes:?}"
        );
        assert!(error.to_string().contains("NOT this runbook's"), "{error}");
        assert_eq!(
            recovery
                .stores
                .restore_of("fleetdb-failover-2")
                .unwrap()
                .snapshot_id,
            "someone-else-s"
        );
    }
}

#[tokio::test]
async fn a_restore_past_its_bound_is_overdue_and_says_how_long_and_what_it_waits_for() {
    let recovery = recovery(
        Rds::with_copies("fleetdb", vec![60 * MINUTE]),
        Backups(None),
        vec![policy("fleetdb", false)],
    );
    recovery.start("failover-1").await;
    match recovery.ready("failover-1", NOW - 3_700_000).await.unwrap() {
        Readiness::Waiting { progress, overdue } => {
            assert!(overdue);
            assert!(
                progress.starts_with("OVERDUE: databases not ready after 3700 s: fleetdb: fleetdb-failover-1 creating")
                    && progress.contains("bound 3600 s"),
                "{progress}"
            );
        }
        other @ Readiness::Ready(_) => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn nothing_restorable_finishes_loudly_instead_of_waiting_forever() {
    let recovery = recovery(Rds::default(), Backups(None), vec![policy("fleetdb", true)]);
    assert!(recovery.start("failover-1").await[0].contains("restore not started"));
    let note = ready(recovery.ready("failover-1", NOW).await.unwrap());
    assert!(note.contains("NOTHING restorable"), "{note}");
}
