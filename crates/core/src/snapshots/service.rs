//! Flow C's use cases: the snapshot controller's tick over every protected database, and
//! the failover's database recovery in DR. The adapters only build the stores.
//!
//! * [`tick_all`] — per database: keep RDS's backup replication on where configured, then
//!   one level-triggered tick of the snapshot pipeline; the RPO a failover now would have,
//!   from the best source ([`newest_first`], the one rule a failover also follows).
//! * [`SnapshotRecovery`] — flow D's [`DatabaseRecovery`] port: restore every protected
//!   database in DR from the source with the newest data, then wait until each is
//!   available or in a state RDS does not leave by itself.

use super::sources::{ensure_backup_replication, newest_first, start_failover_restore};
use super::{
    Blocked, DatabaseKind, DatabaseRestorer, ReplicatedBackupStore, ReplicationState, RestoreError,
    RestoreSource, SnapshotPolicy, SnapshotStore, TickReport,
};
use crate::failover::DatabaseRecovery;
use crate::port::PortError;
use crate::report::{Figure, Report, Section};
use crate::time::{Clock, EpochMillis};

/// The RDS stores, one per kind of database (an instance's snapshots are not a cluster's).
pub trait Stores {
    /// The store of one kind.
    type Store: SnapshotStore + DatabaseRestorer + Sync;
    /// The store for `kind`.
    fn of(&self, kind: DatabaseKind) -> &Self::Store;
}

/// One database's tick.
#[derive(Debug, Clone)]
pub struct DatabaseTick {
    /// The database.
    pub database: String,
    /// RDS's backup replication, when configured: its state, or why it could not be kept.
    pub replication: Option<Result<ReplicationState, PortError>>,
    /// The pipeline's tick, or why the database's snapshots could not be observed.
    pub tick: Result<TickReport, PortError>,
    /// When the tick ran.
    pub at_ms: EpochMillis,
}

impl DatabaseTick {
    /// The sources a failover could restore from now, as this tick saw them.
    pub fn sources(&self) -> Vec<RestoreSource> {
        let copy = self.tick.as_ref().ok().and_then(|t| {
            Some(RestoreSource::SnapshotCopy {
                snapshot_id: t.plan.newest_restorable.clone()?,
                data_ms: self.at_ms - t.plan.rpo_ms?,
            })
        });
        let backups = match &self.replication {
            Some(Ok(ReplicationState::Replicating {
                arn,
                latest_restorable_ms: Some(latest),
            })) => Some(RestoreSource::ReplicatedBackups {
                arn: arn.clone(),
                data_ms: *latest,
            }),
            _ => None,
        };
        copy.into_iter().chain(backups).collect()
    }

    /// What a failover now would lose: the age of the best source's data.
    pub fn rpo_ms(&self) -> Option<EpochMillis> {
        let sources = self.sources();
        newest_first(&sources).first().map(|s| s.rpo_ms(self.at_ms))
    }

    fn rpo_of(&self, kind: &str) -> Option<EpochMillis> {
        self.sources()
            .iter()
            .find(|s| s.kind_name() == kind)
            .map(|s| s.rpo_ms(self.at_ms))
    }
}

/// What the snapshot controller's invocation did.
#[derive(Debug, Clone, Default)]
pub struct SnapshotTicks {
    /// One tick per protected database.
    pub databases: Vec<DatabaseTick>,
}

impl SnapshotTicks {
    /// The databases whose snapshots could not even be observed, with why: the invocation
    /// fails, so Lambda's error metric and alarm fire.
    pub fn unobservable(&self) -> Vec<String> {
        self.databases
            .iter()
            .filter_map(|d| {
                d.tick
                    .as_ref()
                    .err()
                    .map(|e| format!("{}: {e}", d.database))
            })
            .collect()
    }
}

/// One tick of every protected database. A failed step is reported and retried by the
/// next tick; a database that cannot be observed is reported, the others still tick.
pub async fn tick_all<K, B>(
    stores: &K,
    replicated: &B,
    databases: &[(DatabaseKind, SnapshotPolicy)],
    clock: &impl Clock,
) -> SnapshotTicks
where
    K: Stores + Sync,
    B: ReplicatedBackupStore + Sync,
{
    let mut report = SnapshotTicks::default();
    for (kind, policy) in databases {
        let at_ms = clock.now_ms();
        // Replicated backups: kept on, and their RPO; a failure here never stops the tick.
        let replication = ensure_backup_replication(replicated, policy).await;
        let tick = super::tick(stores.of(*kind), policy, at_ms).await;
        report.databases.push(DatabaseTick {
            database: policy.database.clone(),
            replication,
            tick,
            at_ms,
        });
    }
    report
}

impl Report for SnapshotTicks {
    fn sections(&self) -> Vec<Section> {
        self.databases.iter().map(database_section).collect()
    }
}

fn database_section(db: &DatabaseTick) -> Section {
    let seconds = |ms: EpochMillis| ms as f64 / 1000.0;
    let mut section = Section::listed("databases").dimension("Database", &db.database);
    if let Some(replication) = &db.replication {
        section = section.fact(
            "backup_replication",
            match replication {
                Ok(state) => format!("{state:?}"),
                Err(error) => format!("error: {error}"),
            },
        );
    }
    // Failures by reason: one line per failing operation or blocking cause, so an alarm can
    // tell a KMS policy mistake from a quota wait.
    let mut reasons: Vec<String> = db
        .replication
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| e.operation.clone()))
        .collect();
    match &db.tick {
        Ok(tick) => {
            reasons.extend(tick.failed.iter().map(|(_, e)| e.operation.clone()));
            reasons.extend(tick.plan.blocked.iter().map(|b| {
                match b {
                    Blocked::AwsManagedKey { .. } => "AwsManagedKey",
                    Blocked::CopyQuota { .. } => "CopyQuota",
                }
                .to_owned()
            }));
            section = section
                .figure(Figure::count(
                    "CopiesInFlight",
                    tick.plan.copies_in_flight as u64,
                ))
                .figure(Figure::count("Failures", tick.failed.len() as u64))
                .figure(Figure::count("Blocked", tick.plan.blocked.len() as u64))
                .fact("newest_restorable", &tick.plan.newest_restorable)
                .fact("done", tick.done.len())
                .fact(
                    "failed",
                    tick.failed
                        .iter()
                        .map(|(_, e)| e.to_string())
                        .collect::<Vec<_>>(),
                )
                .fact(
                    "blocked",
                    tick.plan
                        .blocked
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>(),
                );
        }
        Err(error) => section = section.fact("error", format!("cannot observe snapshots: {error}")),
    }
    // RpoSeconds: what a failover now would lose, from the best source; and per source, so
    // an alarm can tell a stalled replication from old copies.
    if let Some(rpo) = db.rpo_ms() {
        section = section.figure(Figure::seconds("RpoSeconds", seconds(rpo)));
    }
    for source in [super::SNAPSHOT_COPY, super::REPLICATED_BACKUPS] {
        if let Some(rpo) = db.rpo_of(source) {
            section = section.child(
                Section::listed("sources")
                    .dimension("Source", source)
                    .figure(Figure::seconds("RpoSeconds", seconds(rpo))),
            );
        }
    }
    section.children(reasons.into_iter().map(|reason| {
        Section::listed("failures")
            .dimension("Reason", reason)
            .figure(Figure::count("FailuresByReason", 1))
    }))
}

/// Flow D's database recovery on flow C's stores: every protected database restored in DR
/// under its own name from the source with the newest data, DR region only.
#[derive(Debug)]
pub struct SnapshotRecovery<K, B, C> {
    /// The RDS stores.
    pub stores: K,
    /// RDS's replicated automated backups (primary's account, the DR region).
    pub replicated: B,
    /// The protected databases.
    pub databases: Vec<(DatabaseKind, SnapshotPolicy)>,
    /// The DR region, for notes.
    pub dr_region: String,
    /// The clock.
    pub clock: C,
}

/// RDS statuses a restore does not recover from on its own.
pub const RESTORE_DEAD_ENDS: &[&str] = &[
    "failed",
    "incompatible-restore",
    "incompatible-parameters",
    "incompatible-network",
    "storage-full",
    "inaccessible-encryption-credentials",
];

impl<K, B, C> SnapshotRecovery<K, B, C>
where
    K: Stores + Sync,
    B: ReplicatedBackupStore + Sync,
    C: Clock,
{
    /// The replicated backups' store, when `policy` has them configured.
    fn replicated_for(&self, policy: &SnapshotPolicy) -> Option<&B> {
        policy.backup_replication.as_ref().map(|_| &self.replicated)
    }

    /// The restored database wherever a restore put it: DR's account, then (when backups
    /// are replicated) primary's account in the DR region.
    async fn restored(
        &self,
        kind: DatabaseKind,
        policy: &SnapshotPolicy,
    ) -> Result<Option<(String, Option<super::DatabaseEndpoint>)>, PortError> {
        if let Some(found) = self
            .stores
            .of(kind)
            .database(kind, &policy.database)
            .await?
        {
            return Ok(Some(found));
        }
        match self.replicated_for(policy) {
            Some(replicated) => replicated.database(&policy.database).await,
            None => Ok(None),
        }
    }

    async fn start_one(
        &self,
        kind: DatabaseKind,
        policy: &SnapshotPolicy,
    ) -> Result<super::FailoverRestore, RestoreError> {
        start_failover_restore(
            self.stores.of(kind),
            self.replicated_for(policy),
            kind,
            policy,
            self.clock.now_ms(),
        )
        .await
    }
}

impl<K, B, C> DatabaseRecovery for SnapshotRecovery<K, B, C>
where
    K: Stores + Sync,
    B: ReplicatedBackupStore + Sync,
    C: Clock,
{
    async fn start(&self) -> Vec<String> {
        let mut notes = Vec::new();
        for (kind, policy) in &self.databases {
            notes.push(match self.start_one(*kind, policy).await {
                Ok(started) => {
                    let mut note = format!(
                        "{}: restoring from {} (data age {} s){}",
                        policy.database,
                        started.source.describe(),
                        started.rpo_ms / 1000,
                        match started.source {
                            RestoreSource::ReplicatedBackups { .. } =>
                                format!(" into primary's account in {}", self.dr_region),
                            RestoreSource::SnapshotCopy { .. } => String::new(),
                        }
                    );
                    for extra in &started.notes {
                        note.push_str(&format!("; {extra}"));
                    }
                    note
                }
                Err(error) => format!("{}: restore not started: {error}", policy.database),
            });
        }
        notes
    }

    async fn ready(&self) -> Result<Option<String>, PortError> {
        let mut notes = Vec::new();
        for (kind, policy) in &self.databases {
            match self.restored(*kind, policy).await? {
                Some((status, Some(endpoint))) if status == "available" => notes.push(format!(
                    "{} available at {}:{}",
                    policy.database, endpoint.address, endpoint.port
                )),
                // States RDS does not leave by itself: finish, loudly, rather than wait.
                Some((status, _)) if RESTORE_DEAD_ENDS.contains(&status.as_str()) => notes.push(
                    format!("{}: restore FAILED (status {status}); restore it by hand", policy.database),
                ),
                Some(_) => return Ok(None),
                None => match self.start_one(*kind, policy).await {
                    Ok(_) => return Ok(None),
                    // Nothing will ever appear by waiting: finish, loudly.
                    Err(RestoreError::NothingToRestore(database)) => notes.push(format!(
                        "{database}: NOTHING restorable in DR (no snapshot copy, no replicated backups); restore it by hand"
                    )),
                    Err(RestoreError::Port(error)) => return Err(error),
                    Err(other) => {
                        return Err(PortError::transient(
                            "RestoreDBInstanceFromDBSnapshot",
                            other.to_string(),
                        ))
                    }
                },
            }
        }
        Ok(Some(notes.join("; ")))
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
