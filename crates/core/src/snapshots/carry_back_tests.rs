//! Failback's carry-back and retirement over an in-memory RDS in three places, where every
//! snapshot and copy stays in progress until the test lets RDS finish it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::*;
use crate::failover::{DatabaseFailback, Readiness};
use crate::snapshots::{
    BackupReplicationPolicy, DatabaseRestorer, DescribedDatabase, InstanceCreation,
    ReplicatedBackup, RestoreSettings, Snapshot, SnapshotStore,
};
use crate::time::ManualClock;

const NOW: EpochMillis = 1_800_000_000_000;
const FAILOVER: &str = "failover-1700000000000";
const FAILBACK: &str = "failback-1800000000000";

/// A snapshot: where it was copied or taken from, its key, its state.
type Taken = (String, String, SnapshotState);

#[derive(Default)]
struct Rds {
    /// (place, name) → database.
    databases: Mutex<BTreeMap<(Location, String), RetiringDatabase>>,
    /// (place, name) → (source arn, key, state).
    snapshots: Mutex<BTreeMap<(Location, String), Taken>>,
    shared: Mutex<Vec<String>>,
    /// Every call that changed something, in order.
    calls: Mutex<Vec<String>>,
}

impl Rds {
    fn restored(place: Location, name: &str, protected: bool) -> Self {
        let rds = Self::default();
        rds.databases.lock().unwrap().insert(
            (place, name.to_owned()),
            RetiringDatabase {
                status: "available".to_owned(),
                tags: BTreeMap::from([
                    (TAG_RUNBOOK.to_owned(), FAILOVER.to_owned()),
                    (TAG_RESTORE_SOURCE.to_owned(), "fleetdb-dr-7".to_owned()),
                    (TAG_DATA_TIME.to_owned(), (NOW - 3_600_000).to_string()),
                ]),
                deletion_protection: protected,
            },
        );
        rds
    }

    /// RDS finishes every snapshot and copy in progress.
    fn finish_all(&self) {
        for (_, _, state) in self.snapshots.lock().unwrap().values_mut() {
            *state = SnapshotState::Available;
        }
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn snapshot(&self, place: Location, name: &str) -> Option<Taken> {
        self.snapshots
            .lock()
            .unwrap()
            .get(&(place, name.to_owned()))
            .cloned()
    }
}

impl FailbackStore for Rds {
    async fn retiring(
        &self,
        at: Location,
        target: &str,
    ) -> Result<Option<RetiringDatabase>, PortError> {
        Ok(self
            .databases
            .lock()
            .unwrap()
            .get(&(at, target.to_owned()))
            .cloned())
    }
    async fn snapshot_named(
        &self,
        at: Location,
        id: &str,
    ) -> Result<Option<FoundSnapshot>, PortError> {
        Ok(self.snapshot(at, id).map(|(_, _, state)| FoundSnapshot {
            arn: format!("arn:{at:?}:{id}"),
            state,
        }))
    }
    async fn snapshot_database(
        &self,
        at: Location,
        target: &str,
        id: &str,
        _: &[(String, String)],
    ) -> Result<(), PortError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("snapshot {at:?} {target} as {id}"));
        self.snapshots.lock().unwrap().insert(
            (at, id.to_owned()),
            (target.to_owned(), String::new(), SnapshotState::InProgress),
        );
        Ok(())
    }
    async fn share_with_primary(&self, id: &str) -> Result<(), PortError> {
        self.shared.lock().unwrap().push(id.to_owned());
        Ok(())
    }
    async fn copy_into(
        &self,
        at: Location,
        source_arn: &str,
        id: &str,
        kms_key: &str,
        _: &[(String, String)],
    ) -> Result<(), PortError> {
        self.calls.lock().unwrap().push(format!(
            "copy {source_arn} into {at:?} as {id} under {kms_key}"
        ));
        self.snapshots.lock().unwrap().insert(
            (at, id.to_owned()),
            (
                source_arn.to_owned(),
                kms_key.to_owned(),
                SnapshotState::InProgress,
            ),
        );
        Ok(())
    }
    async fn source_key(&self, _: &str) -> Result<Option<String>, PortError> {
        Ok(Some(
            "arn:aws:kms:us-east-1:111111111111:key/fleetdb".to_owned(),
        ))
    }
    async fn retire_database(
        &self,
        at: Location,
        target: &str,
        final_snapshot: &str,
    ) -> Result<Retirement, PortError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("delete {at:?} {target} keeping {final_snapshot}"));
        if let Some(db) = self
            .databases
            .lock()
            .unwrap()
            .get_mut(&(at, target.to_owned()))
        {
            db.status = "deleting".to_owned();
        }
        Ok(Retirement::Deleting)
    }
}

impl SnapshotStore for Rds {
    async fn observe(&self, _: &str) -> Result<Vec<Snapshot>, PortError> {
        Ok(Vec::new())
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
    async fn restorable(&self, _: &str) -> Result<Vec<Snapshot>, PortError> {
        Ok(Vec::new())
    }
    async fn restore(
        &self,
        _: DatabaseKind,
        _: &str,
        _: &str,
        _: &RestoreSettings,
        _: &[(String, String)],
    ) -> Result<(), PortError> {
        Ok(())
    }
    async fn database(
        &self,
        _: DatabaseKind,
        _: &str,
    ) -> Result<Option<DescribedDatabase>, PortError> {
        Ok(None)
    }
    async fn create_cluster_instance(
        &self,
        _: &str,
        _: &str,
        _: &RestoreSettings,
        _: &[(String, String)],
    ) -> Result<InstanceCreation, PortError> {
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

struct NoBackups;

impl ReplicatedBackupStore for NoBackups {
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

/// The application's directory in DR: which databases' announcements were withdrawn.
#[derive(Default)]
struct Directory(std::sync::Mutex<Vec<String>>);

impl crate::snapshots::DatabaseDirectory for Directory {
    async fn publish(&self, _: &crate::snapshots::DatabaseLocation) -> Result<(), PortError> {
        Ok(())
    }

    fn name_of(&self, database: &str) -> String {
        format!("/iot-dr/databases/{database}")
    }

    async fn withdraw(&self, database: &str) -> Result<(), PortError> {
        self.0.lock().unwrap().push(database.to_owned());
        Ok(())
    }
}

fn recovery(
    rds: Rds,
    replicated: bool,
) -> SnapshotRecovery<Rds, NoBackups, ManualClock, Directory> {
    SnapshotRecovery {
        stores: rds,
        replicated: NoBackups,
        databases: vec![(
            DatabaseKind::Instance,
            SnapshotPolicy {
                database: "fleetdb".to_owned(),
                interval_ms: 3_600_000,
                keep_count: 7,
                max_age_ms: 7 * 86_400_000,
                regional_kms_key: "arn:aws:kms:us-west-2:111111111111:key/regional".to_owned(),
                dr_kms_key: "arn:aws:kms:us-west-2:222222222222:key/dr".to_owned(),
                dr_account: "222222222222".to_owned(),
                max_copies_in_flight: 20,
                restore: RestoreSettings::default(),
                backup_replication: replicated.then(|| BackupReplicationPolicy {
                    retention_days: 7,
                    restore: RestoreSettings::default(),
                }),
                global_secondary: None,
            },
        )],
        dr_region: "us-west-2".to_owned(),
        clock: ManualClock::at(NOW),
        ready_timeout_ms: 3_600_000,
        directory: Directory::default(),
        primary_account: "111111111111".to_owned(),
        credentials: BTreeMap::new(),
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

const TARGET: &str = "fleetdb-failover-1700000000000";
const CARRIED: &str = "fleetdb-dr-writes-1800000000000";

#[test]
fn the_failover_s_restored_databases_are_listed_with_their_data_and_protection() {
    let r = recovery(Rds::restored(Location::Dr, TARGET, true), false);
    let listed = block_on(r.restored(FAILOVER)).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(
        listed[0].contains(TARGET)
            && listed[0].contains("DR's account in us-west-2")
            && listed[0].contains("age 3600 s")
            && listed[0].contains("deletion protection ON"),
        "{listed:?}"
    );
    // Another failover's databases are not this one's.
    assert!(block_on(r.restored("failover-1")).unwrap().is_empty());
}

#[test]
fn a_dr_account_database_is_snapshotted_shared_copied_into_primary_s_account_then_its_region() {
    let r = recovery(Rds::restored(Location::Dr, TARGET, false), false);
    let look = || block_on(r.carry_back(FAILOVER, FAILBACK, NOW));
    // Each look starts one hop, then waits while RDS works; looking again while it works
    // starts nothing new (never a second snapshot).
    for hop in 0..3 {
        let first = look().unwrap();
        assert!(
            matches!(first, Readiness::Waiting { .. }),
            "hop {hop}: {first:?}"
        );
        let again = look().unwrap();
        assert!(
            matches!(again, Readiness::Waiting { .. }),
            "hop {hop}: {again:?}"
        );
        r.stores.finish_all();
    }
    let Readiness::Ready(note) = look().unwrap() else {
        panic!("carried back by now")
    };
    assert!(
        note.contains(&format!("CARRIED BACK as snapshot {CARRIED}")),
        "{note}"
    );
    assert_eq!(
        r.stores.calls(),
        [
            format!("snapshot Dr {TARGET} as {CARRIED}"),
            format!("copy arn:Dr:{CARRIED} into Regional as {CARRIED} under arn:aws:kms:us-west-2:111111111111:key/regional"),
            format!("copy arn:Regional:{CARRIED} into Source as {CARRIED} under arn:aws:kms:us-east-1:111111111111:key/fleetdb"),
        ]
    );
    assert_eq!(*r.stores.shared.lock().unwrap(), [CARRIED]);
    // Done is done: a later look changes nothing.
    assert!(matches!(look().unwrap(), Readiness::Ready(_)));
    assert_eq!(r.stores.calls().len(), 3);
}

#[test]
fn a_database_restored_from_replicated_backups_is_already_in_primary_s_account() {
    let r = recovery(Rds::restored(Location::Regional, TARGET, false), true);
    let look = || block_on(r.carry_back(FAILOVER, FAILBACK, NOW));
    for _ in 0..2 {
        assert!(matches!(look().unwrap(), Readiness::Waiting { .. }));
        r.stores.finish_all();
    }
    assert!(matches!(look().unwrap(), Readiness::Ready(_)));
    assert_eq!(
        r.stores.calls(),
        [
            format!("snapshot Regional {TARGET} as {CARRIED}"),
            format!("copy arn:Regional:{CARRIED} into Source as {CARRIED} under arn:aws:kms:us-east-1:111111111111:key/fleetdb"),
        ]
    );
    assert!(
        r.stores.shared.lock().unwrap().is_empty(),
        "nothing to share"
    );
}

#[test]
fn retirement_keeps_a_final_snapshot_and_honours_deletion_protection() {
    let r = recovery(Rds::restored(Location::Dr, TARGET, false), false);
    let Readiness::Ready(note) = block_on(r.retire(FAILOVER, FAILBACK, NOW)).unwrap() else {
        panic!("retired")
    };
    assert!(note.contains("RETIRED"), "{note}");
    // The application in DR no longer finds a database being deleted.
    assert_eq!(*r.directory.0.lock().unwrap(), ["fleetdb"]);
    assert!(
        note.contains("/iot-dr/databases/fleetdb withdrawn"),
        "{note}"
    );
    assert_eq!(
        r.stores.calls(),
        [format!(
            "delete Dr {TARGET} keeping fleetdb-dr-final-1800000000000"
        )]
    );

    let protected = recovery(Rds::restored(Location::Dr, TARGET, true), false);
    let Readiness::Ready(note) = block_on(protected.retire(FAILOVER, FAILBACK, NOW)).unwrap()
    else {
        panic!("finished, loudly")
    };
    assert!(
        note.contains("NOT RETIRED: deletion protection is on"),
        "{note}"
    );
    assert!(
        protected.stores.calls().is_empty(),
        "protection is never turned off"
    );
    assert!(
        protected.directory.0.lock().unwrap().is_empty(),
        "a database left in place keeps its announcement"
    );
}

#[test]
fn names_stay_within_rds_s_rules_for_the_longest_identifier() {
    let long = "a".repeat(37);
    assert_eq!(
        carried_name(&long, FAILBACK).unwrap().len(),
        37 + "-dr-writes-1800000000000".len()
    );
    assert!(final_name(&long, FAILBACK).unwrap().len() <= RDS_IDENTIFIER_MAX);
}
