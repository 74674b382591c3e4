//! Flow C's use cases over an in-memory RDS.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::*;
use crate::failover::DatabaseRecovery;
use crate::report::{emf, json};
use crate::snapshots::{
    BackupReplicationPolicy, DatabaseEndpoint, Location, ReplicatedBackup, RestoreSettings,
    Snapshot, SnapshotState, TAG_DATABASE, TAG_MANAGED, TAG_SOURCE_SNAPSHOT, TAG_SOURCE_TIME,
};
use crate::snapshots::{REPLICATED_BACKUPS, SNAPSHOT_COPY};
use crate::time::ManualClock;

const NOW: EpochMillis = 1_800_000_000_000;
const MINUTE: EpochMillis = 60_000;

/// RDS in DR: copies of each database of the given ages, restores that turn `available`
/// after `polls` looks.
#[derive(Default)]
struct Rds {
    ages: HashMap<String, Vec<EpochMillis>>,
    unobservable: Vec<String>,
    restores: Mutex<BTreeMap<String, (String, u32)>>,
    polls: u32,
}

impl Rds {
    fn copies(&self, database: &str) -> Vec<Snapshot> {
        self.ages
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
        _: DatabaseKind,
        snapshot_id: &str,
        target: &str,
        _: &RestoreSettings,
    ) -> Result<(), PortError> {
        self.restores
            .lock()
            .unwrap()
            .insert(target.to_owned(), (snapshot_id.to_owned(), self.polls));
        Ok(())
    }
    async fn database(
        &self,
        _: DatabaseKind,
        target: &str,
    ) -> Result<Option<(String, Option<DatabaseEndpoint>)>, PortError> {
        let mut restores = self.restores.lock().unwrap();
        Ok(restores.get_mut(target).map(|(_, polls)| {
            if *polls == 0 {
                let endpoint = DatabaseEndpoint {
                    address: format!("{target}.dr"),
                    port: 5432,
                };
                ("available".to_owned(), Some(endpoint))
            } else {
                *polls -= 1;
                ("creating".to_owned(), None)
            }
        }))
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
    async fn restore_latest(&self, _: &str, _: &str, _: &RestoreSettings) -> Result<(), PortError> {
        Ok(())
    }
    async fn database(
        &self,
        _: &str,
    ) -> Result<Option<(String, Option<DatabaseEndpoint>)>, PortError> {
        Ok(None)
    }
}

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
    let rds = Rds {
        ages: HashMap::from([
            ("fleetdb".to_owned(), vec![180 * MINUTE]),
            ("audit".to_owned(), vec![120 * MINUTE]),
        ]),
        ..Rds::default()
    };
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
        ages: HashMap::from([("audit".to_owned(), vec![120 * MINUTE])]),
        unobservable: vec!["fleetdb".to_owned()],
        ..Rds::default()
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

fn recovery(
    rds: Rds,
    backups: Backups,
    databases: Vec<(DatabaseKind, SnapshotPolicy)>,
) -> SnapshotRecovery<Rds, Backups, ManualClock> {
    SnapshotRecovery {
        stores: rds,
        replicated: backups,
        databases,
        dr_region: "us-west-2".into(),
        clock: ManualClock::at(NOW),
    }
}

#[tokio::test]
async fn a_failover_restores_each_database_then_waits_until_all_are_available() {
    let rds = Rds {
        ages: HashMap::from([("fleetdb".to_owned(), vec![60 * MINUTE])]),
        polls: 1,
        ..Rds::default()
    };
    let recovery = recovery(rds, Backups(None), vec![policy("fleetdb", false)]);
    let notes = recovery.start().await;
    assert_eq!(
        notes,
        ["fleetdb: restoring from snapshot copy fleetdb-dr-0 (data age 3600 s)"]
    );
    assert_eq!(recovery.ready().await.unwrap(), None, "still creating");
    assert_eq!(
        recovery.ready().await.unwrap().as_deref(),
        Some("fleetdb available at fleetdb.dr:5432")
    );
}

#[tokio::test]
async fn nothing_restorable_finishes_loudly_instead_of_waiting_forever() {
    let recovery = recovery(Rds::default(), Backups(None), vec![policy("fleetdb", true)]);
    assert!(recovery.start().await[0].contains("restore not started"));
    let ready = recovery.ready().await.unwrap().expect("finished");
    assert!(ready.contains("NOTHING restorable"), "{ready}");
}
