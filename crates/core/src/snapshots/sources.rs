//! Where a failover restores a database from, and which source it picks.
//!
//! Two sources can hold a protected instance's data in the DR region:
//! * **DR's snapshot copy** (flow C): DR's account, DR's key. It survives losing primary's
//!   whole account, but its data is as old as the last snapshot (hours, by schedule).
//! * **RDS's replicated automated backups** (cross-Region automated backup replication):
//!   snapshots and transaction logs RDS ships into the DR region, restorable to a point in
//!   time minutes old. They stay in primary's account (RDS replicates no backups across
//!   accounts), so a restore from them lands in primary's account in the DR region.
//!
//! Both are read and restored in the DR region only: neither needs primary's region. A
//! failover picks the one with the newest data; if starting that restore fails, the other.
//!
//! Long because of its unit tests (~360 lines of code): the source rules and the cases that
//! pin them are read together.

use crate::port::PortError;
use std::future::Future;

use super::{decide, DatabaseRestorer, DescribedDatabase, RestoreError, RestoreSettings};
use super::{DatabaseKind, SnapshotPolicy};
use crate::time::EpochMillis;

/// The replicated automated backups of one instance, as the DR region reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicatedBackup {
    /// `arn:aws:rds:<dr region>:<primary account>:auto-backup:ab-…`.
    pub arn: String,
    /// RDS's status: `pending` (starting), `replicating`, `retained` (the source is gone;
    /// still restorable within retention) or another.
    pub status: String,
    /// The newest point it can be restored to, once there is one.
    pub latest_restorable_ms: Option<EpochMillis>,
}

impl ReplicatedBackup {
    /// Statuses RDS restores from.
    const RESTORABLE: &'static [&'static str] = &["replicating", "active", "retained"];

    /// The newest restorable point, if the backups can be restored from at all.
    pub fn restorable_ms(&self) -> Option<EpochMillis> {
        Self::RESTORABLE
            .contains(&self.status.as_str())
            .then_some(self.latest_restorable_ms)
            .flatten()
    }
}

/// One source a database can be restored from, with how new its data is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreSource {
    /// DR's own copy of a snapshot.
    SnapshotCopy {
        /// The DR snapshot's identifier.
        snapshot_id: String,
        /// When the source snapshot was taken in primary.
        data_ms: EpochMillis,
    },
    /// RDS's replicated automated backups, restored to their latest restorable time.
    ReplicatedBackups {
        /// The replicated backups' ARN.
        arn: String,
        /// Their latest restorable time.
        data_ms: EpochMillis,
    },
    /// An Aurora global database's secondary cluster in the DR region, promoted in place
    /// (detach and promote; see [`super::global`]).
    GlobalSecondary {
        /// The secondary cluster's identifier.
        cluster: String,
        /// Its ARN.
        arn: String,
        /// The global database it replicates in.
        global_cluster: String,
        /// Its replication lag when observed (the RPO before promotion).
        lag_ms: EpochMillis,
        /// The newest primary data it held: the lag datapoint's time − the lag.
        data_ms: EpochMillis,
    },
}

impl RestoreSource {
    /// When the data it restores was current.
    pub fn data_ms(&self) -> EpochMillis {
        match self {
            Self::SnapshotCopy { data_ms, .. }
            | Self::ReplicatedBackups { data_ms, .. }
            | Self::GlobalSecondary { data_ms, .. } => *data_ms,
        }
    }

    /// How old its data is at `now` (the RPO a failover now would have).
    pub fn rpo_ms(&self, now: EpochMillis) -> EpochMillis {
        (now - self.data_ms()).max(0)
    }

    /// Its name in metrics, reports and JSON: `snapshot-copy`, `replicated-backups` or
    /// `global-secondary`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::SnapshotCopy { .. } => SNAPSHOT_COPY,
            Self::ReplicatedBackups { .. } => REPLICATED_BACKUPS,
            Self::GlobalSecondary { .. } => super::GLOBAL_SECONDARY,
        }
    }

    /// What a person reads: which source and which snapshot or backups.
    pub fn describe(&self) -> String {
        match self {
            Self::SnapshotCopy { snapshot_id, .. } => format!("snapshot copy {snapshot_id}"),
            Self::ReplicatedBackups { arn, .. } => {
                format!("replicated automated backups {arn} (latest restorable time)")
            }
            Self::GlobalSecondary {
                cluster,
                global_cluster,
                lag_ms,
                ..
            } => format!(
                "Aurora global database {global_cluster}'s secondary {cluster} (replication lag {lag_ms} ms)"
            ),
        }
    }
}

/// Restorable sources, the newest data first; a tie goes to the snapshot copy (DR's own
/// account), then the global secondary. The rule both the RPO metric and a failover's
/// choice follow.
pub fn newest_first<'a>(
    sources: impl IntoIterator<Item = &'a RestoreSource>,
) -> Vec<&'a RestoreSource> {
    let mut found: Vec<&RestoreSource> = sources.into_iter().collect();
    found.sort_by_key(|s| {
        (
            std::cmp::Reverse(s.data_ms()),
            match s {
                RestoreSource::SnapshotCopy { .. } => 0,
                RestoreSource::GlobalSecondary { .. } => 1,
                RestoreSource::ReplicatedBackups { .. } => 2,
            },
        )
    });
    found
}

/// [`RestoreSource::kind_name`] of DR's snapshot copies.
pub const SNAPSHOT_COPY: &str = "snapshot-copy";
/// [`RestoreSource::kind_name`] of RDS's replicated automated backups.
pub const REPLICATED_BACKUPS: &str = "replicated-backups";

/// RDS's replicated automated backups, in primary's account in the DR region.
pub trait ReplicatedBackupStore {
    /// The backups of `database` replicated from primary's region, if any.
    fn replicated(
        &self,
        database: &str,
    ) -> impl Future<Output = Result<Option<ReplicatedBackup>, PortError>> + Send;
    /// Ask RDS to replicate `database`'s automated backups into the DR region, encrypted
    /// there with `kms_key`, kept `retention_days`.
    fn start_replication(
        &self,
        database: &str,
        retention_days: u32,
        kms_key: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Start a point-in-time restore of the backups `arn` at their latest restorable time
    /// into `target`, tagged with `tags`, placed as `settings` say, never publicly
    /// accessible. A target that already exists is success (the caller reads its tags).
    fn restore_latest(
        &self,
        arn: &str,
        target: &str,
        settings: &RestoreSettings,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// The restored DB instance `target` there; `None` if it does not exist.
    fn database(
        &self,
        target: &str,
    ) -> impl Future<Output = Result<Option<DescribedDatabase>, PortError>> + Send;
}

/// What each source of one database holds now.
#[derive(Debug)]
pub struct SourceReport {
    /// DR's newest restorable snapshot copy, or why it could not be read.
    pub copy: Result<Option<RestoreSource>, PortError>,
    /// The replicated backups: `None` when not configured.
    pub replicated: Option<Result<Option<RestoreSource>, PortError>>,
    /// The Aurora global database's secondary: `None` when not configured (or not asked);
    /// an error also when it is not reusable (missing, detached, another runbook's).
    pub global: Option<Result<Option<RestoreSource>, PortError>>,
}

impl SourceReport {
    /// The sources that can be restored, newest data first (a tie goes to the snapshot
    /// copy: DR's own account).
    pub fn candidates(&self) -> Vec<&RestoreSource> {
        newest_first(
            [
                self.copy.as_ref().ok().and_then(Option::as_ref),
                self.replicated
                    .as_ref()
                    .and_then(|r| r.as_ref().ok())
                    .and_then(Option::as_ref),
                self.global
                    .as_ref()
                    .and_then(|r| r.as_ref().ok())
                    .and_then(Option::as_ref),
            ]
            .into_iter()
            .flatten(),
        )
    }

    /// The source a failover would restore from now.
    pub fn chosen(&self) -> Option<&RestoreSource> {
        self.candidates().into_iter().next()
    }

    /// The sources that could not be read, as `<source>: <error>`.
    pub fn unreadable(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Err(e) = &self.copy {
            out.push(format!("{SNAPSHOT_COPY}: {e}"));
        }
        if let Some(Err(e)) = &self.replicated {
            out.push(format!("{REPLICATED_BACKUPS}: {e}"));
        }
        if let Some(Err(e)) = &self.global {
            out.push(format!("{}: {e}", super::GLOBAL_SECONDARY));
        }
        out
    }
}

/// Read both snapshot-based sources of `policy`'s database (the replicated backups only
/// when configured and a store is given): what a drill restores from. DR region only.
pub async fn observe_sources<R, B>(
    copies: &R,
    replicated: Option<&B>,
    policy: &SnapshotPolicy,
    now: EpochMillis,
) -> SourceReport
where
    R: DatabaseRestorer + Sync,
    B: ReplicatedBackupStore + Sync,
{
    observe_all_sources(
        copies,
        replicated,
        None::<&super::NoGlobalSecondary>,
        policy,
        None,
        now,
    )
    .await
}

/// Read every source of `policy`'s database: also its global database's secondary when
/// configured and a store is given, as a source for `runbook` (`None`: for anyone, as
/// readiness asks). DR region only.
pub async fn observe_all_sources<R, B, G>(
    copies: &R,
    replicated: Option<&B>,
    global: Option<&G>,
    policy: &SnapshotPolicy,
    runbook: Option<&str>,
    now: EpochMillis,
) -> SourceReport
where
    R: DatabaseRestorer + Sync,
    B: ReplicatedBackupStore + Sync,
    G: super::GlobalSecondaryStore + Sync,
{
    let copy = async {
        let observed = copies.restorable(&policy.database).await?;
        let plan = decide(now, policy, &observed);
        Ok(plan
            .newest_restorable
            .zip(plan.rpo_ms)
            .map(|(snapshot_id, rpo_ms)| RestoreSource::SnapshotCopy {
                snapshot_id,
                data_ms: now - rpo_ms,
            }))
    };
    let backups = async {
        match (policy.backup_replication.as_ref(), replicated) {
            (Some(_), Some(store)) => Some(store.replicated(&policy.database).await.map(|b| {
                b.and_then(|b| {
                    let data_ms = b.restorable_ms()?;
                    Some(RestoreSource::ReplicatedBackups {
                        arn: b.arn,
                        data_ms,
                    })
                })
            })),
            _ => None,
        }
    };
    let secondary = async {
        match (policy.global_secondary.as_ref(), global) {
            (Some(secondary), Some(store)) => Some(
                store
                    .secondary(&secondary.cluster)
                    .await
                    .and_then(|found| super::global::candidate(secondary, found, runbook)),
            ),
            _ => None,
        }
    };
    let (copy, replicated, global) = futures_util::future::join3(copy, backups, secondary).await;
    SourceReport {
        copy,
        replicated,
        global,
    }
}

/// A failover's restore, started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverRestore {
    /// What it restores from.
    pub source: RestoreSource,
    /// How old the restored data is.
    pub rpo_ms: EpochMillis,
    /// What happened on the way (a source unreadable, a first choice that failed).
    pub notes: Vec<String>,
}

/// Start restoring `policy`'s database into `target` (the runbook's own name, see
/// [`super::failover_target`]) from the source with the newest data, tagged as `runbook`'s
/// with what it holds; when starting that fails, from the next. A global secondary is not
/// restored but promoted in place, under its own name ([`super::global::promote`]).
/// Without waiting (failover moves traffic while RDS works).
#[allow(clippy::too_many_arguments)]
pub async fn start_failover_restore<R, B, G>(
    copies: &R,
    replicated: Option<&B>,
    global: Option<&G>,
    kind: DatabaseKind,
    policy: &SnapshotPolicy,
    target: &str,
    runbook: &str,
    now: EpochMillis,
) -> Result<FailoverRestore, RestoreError>
where
    R: DatabaseRestorer + Sync,
    B: ReplicatedBackupStore + Sync,
    G: super::GlobalSecondaryStore + Sync,
{
    let report = observe_all_sources(copies, replicated, global, policy, Some(runbook), now).await;
    let mut notes = report.unreadable();
    let mut last_error = None;
    for source in report.candidates() {
        let tags = super::restore_tags(runbook, source);
        let started = match source {
            RestoreSource::SnapshotCopy { snapshot_id, .. } => {
                copies
                    .restore(kind, snapshot_id, target, &policy.restore, &tags)
                    .await
            }
            RestoreSource::ReplicatedBackups { arn, .. } => {
                let (Some(store), Some(replication)) =
                    (replicated, policy.backup_replication.as_ref())
                else {
                    continue;
                };
                store
                    .restore_latest(arn, target, &replication.restore, &tags)
                    .await
            }
            RestoreSource::GlobalSecondary { .. } => {
                let (Some(store), Some(secondary)) = (global, policy.global_secondary.as_ref())
                else {
                    continue;
                };
                super::global::promote(store, secondary, runbook, &tags).await
            }
        };
        match started {
            Ok(()) => {
                return Ok(FailoverRestore {
                    source: source.clone(),
                    rpo_ms: source.rpo_ms(now),
                    notes,
                })
            }
            Err(error) => {
                notes.push(format!("{} failed: {error}", source.describe()));
                last_error = Some(error);
            }
        }
    }
    match (last_error, report.copy) {
        (Some(error), _) => Err(RestoreError::Port(error)),
        // The only source left is a global secondary that cannot be promoted now (missing,
        // detached, another runbook's: loudly, every round; its lag unread: retried), not
        // "nothing to restore", which would finish the runbook.
        (None, Ok(None))
            if !matches!(report.replicated, Some(Ok(Some(_))))
                && matches!(report.global, Some(Err(_))) =>
        {
            Err(RestoreError::Port(
                report.global.and_then(Result::err).expect("matched above"),
            ))
        }
        // Nothing restorable was found: say so, unless nothing could even be read.
        (None, Err(error))
            if !matches!(report.replicated, Some(Ok(Some(_))))
                && !matches!(report.global, Some(Ok(Some(_)))) =>
        {
            Err(RestoreError::Port(error))
        }
        _ => Err(RestoreError::NothingToRestore(policy.database.clone())),
    }
}

/// What [`ensure_backup_replication`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicationState {
    /// Replicating; restorable to this point.
    Replicating {
        /// The replicated backups' ARN.
        arn: String,
        /// The latest restorable time, once RDS has one.
        latest_restorable_ms: Option<EpochMillis>,
    },
    /// RDS is starting it, or it is in another state RDS moves on from by itself.
    Pending(String),
    /// It was off, and has been asked for now.
    Started,
}

/// Keep RDS replicating `policy`'s automated backups into the DR region (the snapshot
/// controller, every tick): start it when there is none. Nothing when not configured.
pub async fn ensure_backup_replication<B>(
    store: &B,
    policy: &SnapshotPolicy,
) -> Option<Result<ReplicationState, PortError>>
where
    B: ReplicatedBackupStore + Sync,
{
    let replication = policy.backup_replication.as_ref()?;
    Some(
        async {
            match store.replicated(&policy.database).await? {
                Some(b) if b.status == "replicating" || b.status == "active" => {
                    Ok(ReplicationState::Replicating {
                        arn: b.arn,
                        latest_restorable_ms: b.latest_restorable_ms,
                    })
                }
                // `retained`: the source was deleted or replication stopped; start again.
                Some(b) if b.status != "retained" => Ok(ReplicationState::Pending(b.status)),
                _ => {
                    store
                        .start_replication(
                            &policy.database,
                            replication.retention_days,
                            &policy.regional_kms_key,
                        )
                        .await?;
                    Ok(ReplicationState::Started)
                }
            }
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshots::{BackupReplicationPolicy, Location, Snapshot, SnapshotState};
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    const NOW: EpochMillis = 1_800_000_000_000;
    const MINUTE: EpochMillis = 60_000;

    #[derive(Default)]
    struct Copies {
        /// Source times (ms ago) of the DR copies.
        ages: Vec<EpochMillis>,
        fail_listing: bool,
        fail_restore: bool,
        restored: Mutex<Vec<String>>,
    }

    impl DatabaseRestorer for Copies {
        async fn restorable(&self, database: &str) -> Result<Vec<Snapshot>, PortError> {
            if self.fail_listing {
                return Err(PortError::transient("DescribeDBSnapshots", "timed out"));
            }
            Ok(self
                .ages
                .iter()
                .enumerate()
                .map(|(i, age)| Snapshot {
                    id: format!("{database}-dr-{i}"),
                    arn: format!("arn:{i}"),
                    location: Location::Dr,
                    state: SnapshotState::Available,
                    created_ms: NOW - age + MINUTE,
                    tags: BTreeMap::from([
                        (crate::snapshots::TAG_MANAGED.to_owned(), "true".to_owned()),
                        (
                            crate::snapshots::TAG_DATABASE.to_owned(),
                            database.to_owned(),
                        ),
                        (
                            crate::snapshots::TAG_SOURCE_TIME.to_owned(),
                            (NOW - age).to_string(),
                        ),
                        (
                            crate::snapshots::TAG_SOURCE_SNAPSHOT.to_owned(),
                            format!("src-{i}"),
                        ),
                    ]),
                    kms_key_id: Some("dr-key".to_owned()),
                    aws_managed_key: false,
                    shared_with: Vec::new(),
                })
                .collect())
        }
        async fn restore(
            &self,
            _: DatabaseKind,
            snapshot_id: &str,
            _: &str,
            settings: &RestoreSettings,
            _: &[(String, String)],
        ) -> Result<(), PortError> {
            if self.fail_restore {
                return Err(PortError::permanent(
                    "RestoreDBInstanceFromDBSnapshot",
                    "AccessDenied",
                ));
            }
            self.restored
                .lock()
                .unwrap()
                .push(format!("{snapshot_id} into {:?}", settings.subnet_group));
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
        ) -> Result<crate::snapshots::InstanceCreation, PortError> {
            Ok(crate::snapshots::InstanceCreation::Started)
        }
        async fn delete_database(&self, _: DatabaseKind, _: &str) -> Result<(), PortError> {
            Ok(())
        }
    }

    #[derive(Default)]
    struct Backups {
        backup: Option<ReplicatedBackup>,
        fail: bool,
        restored: Mutex<Vec<String>>,
        started: Mutex<Vec<(String, u32, String)>>,
    }

    impl ReplicatedBackupStore for Backups {
        async fn replicated(&self, _: &str) -> Result<Option<ReplicatedBackup>, PortError> {
            if self.fail {
                return Err(PortError::transient(
                    "DescribeDBInstanceAutomatedBackups",
                    "timed out",
                ));
            }
            Ok(self.backup.clone())
        }
        async fn start_replication(
            &self,
            database: &str,
            retention_days: u32,
            kms_key: &str,
        ) -> Result<(), PortError> {
            self.started.lock().unwrap().push((
                database.to_owned(),
                retention_days,
                kms_key.to_owned(),
            ));
            Ok(())
        }
        async fn restore_latest(
            &self,
            arn: &str,
            _: &str,
            settings: &RestoreSettings,
            _: &[(String, String)],
        ) -> Result<(), PortError> {
            self.restored
                .lock()
                .unwrap()
                .push(format!("{arn} into {:?}", settings.subnet_group));
            Ok(())
        }
        async fn database(&self, _: &str) -> Result<Option<DescribedDatabase>, PortError> {
            Ok(None)
        }
    }

    fn policy(replicated: bool) -> SnapshotPolicy {
        SnapshotPolicy {
            database: "fleetdb".to_owned(),
            interval_ms: 240 * MINUTE,
            keep_count: 7,
            max_age_ms: 168 * 60 * MINUTE,
            regional_kms_key: "alias/dr-snapshots".to_owned(),
            dr_kms_key: "alias/dr-snapshots-dr".to_owned(),
            dr_account: "222222222222".to_owned(),
            max_copies_in_flight: 20,
            restore: RestoreSettings {
                subnet_group: Some("fleet-dr".to_owned()),
                ..RestoreSettings::default()
            },
            backup_replication: replicated.then(|| BackupReplicationPolicy {
                retention_days: 7,
                restore: RestoreSettings {
                    subnet_group: Some("fleet-pitr".to_owned()),
                    ..RestoreSettings::default()
                },
            }),
            global_secondary: None,
        }
    }

    fn replicating(minutes_old: EpochMillis) -> ReplicatedBackup {
        ReplicatedBackup {
            arn: "arn:aws:rds:us-west-2:111111111111:auto-backup:ab-1".to_owned(),
            status: "replicating".to_owned(),
            latest_restorable_ms: Some(NOW - minutes_old * MINUTE),
        }
    }

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// A failover's restore of an instance with replication configured, at `NOW`.
    fn restore(
        copies: &Copies,
        backups: Option<&Backups>,
    ) -> Result<FailoverRestore, RestoreError> {
        run(start_failover_restore(
            copies,
            backups,
            None::<&crate::snapshots::NoGlobalSecondary>,
            DatabaseKind::Instance,
            &policy(true),
            "fleetdb-failover-1",
            "failover-1",
            NOW,
        ))
    }

    #[test]
    fn the_source_with_the_newest_data_is_restored_in_its_own_network() {
        let copies = Copies {
            ages: vec![180 * MINUTE],
            ..Copies::default()
        };
        let backups = Backups {
            backup: Some(replicating(6)),
            ..Backups::default()
        };
        let started = restore(&copies, Some(&backups)).unwrap();
        assert_eq!(started.source.kind_name(), REPLICATED_BACKUPS);
        assert_eq!(started.rpo_ms, 6 * MINUTE);
        assert_eq!(
            *backups.restored.lock().unwrap(),
            ["arn:aws:rds:us-west-2:111111111111:auto-backup:ab-1 into Some(\"fleet-pitr\")"]
        );
        assert!(copies.restored.lock().unwrap().is_empty());

        // A copy newer than the backups' latest restorable time wins.
        let fresh = Copies {
            ages: vec![2 * MINUTE],
            ..Copies::default()
        };
        let started = restore(&fresh, Some(&backups)).unwrap();
        assert_eq!(started.source.kind_name(), SNAPSHOT_COPY);
        assert_eq!(
            *fresh.restored.lock().unwrap(),
            ["fleetdb-dr-0 into Some(\"fleet-dr\")"]
        );
    }

    #[test]
    fn a_source_that_cannot_be_read_or_restored_falls_back_to_the_other_and_says_so() {
        let copies = Copies {
            ages: vec![180 * MINUTE],
            ..Copies::default()
        };
        let unreadable = Backups {
            fail: true,
            ..Backups::default()
        };
        let started = restore(&copies, Some(&unreadable)).unwrap();
        assert_eq!(started.source.kind_name(), SNAPSHOT_COPY);
        assert!(
            started.notes[0].starts_with("replicated-backups: ")
                && started.notes[0].contains("timed out"),
            "{:?}",
            started.notes
        );

        let refusing = Copies {
            ages: vec![MINUTE],
            fail_restore: true,
            ..Copies::default()
        };
        let backups = Backups {
            backup: Some(replicating(6)),
            ..Backups::default()
        };
        let started = restore(&refusing, Some(&backups)).unwrap();
        assert_eq!(started.source.kind_name(), REPLICATED_BACKUPS);
        assert!(
            started.notes[0].contains("AccessDenied"),
            "{:?}",
            started.notes
        );
    }

    #[test]
    fn backups_that_are_not_restorable_yet_are_no_candidate_and_nothing_is_said_loudly() {
        let copies = Copies::default();
        let pending = Backups {
            backup: Some(ReplicatedBackup {
                status: "pending".to_owned(),
                latest_restorable_ms: None,
                ..replicating(0)
            }),
            ..Backups::default()
        };
        let error = restore(&copies, Some(&pending)).unwrap_err();
        assert!(
            matches!(error, RestoreError::NothingToRestore(ref db) if db == "fleetdb"),
            "{error}"
        );
        // Not configured: the backups are never asked.
        let report = run(observe_sources(
            &copies,
            Some(&pending),
            &policy(false),
            NOW,
        ));
        assert!(report.replicated.is_none());
    }

    #[test]
    fn replication_is_started_when_off_and_left_alone_when_running() {
        let off = Backups::default();
        assert_eq!(
            run(ensure_backup_replication(&off, &policy(true)))
                .unwrap()
                .unwrap(),
            ReplicationState::Started
        );
        assert_eq!(
            *off.started.lock().unwrap(),
            [("fleetdb".to_owned(), 7, "alias/dr-snapshots".to_owned())]
        );
        let on = Backups {
            backup: Some(replicating(5)),
            ..Backups::default()
        };
        assert_eq!(
            run(ensure_backup_replication(&on, &policy(true)))
                .unwrap()
                .unwrap(),
            ReplicationState::Replicating {
                arn: replicating(5).arn,
                latest_restorable_ms: Some(NOW - 5 * MINUTE)
            }
        );
        assert!(on.started.lock().unwrap().is_empty());
        assert!(run(ensure_backup_replication(&on, &policy(false))).is_none());
    }
}
