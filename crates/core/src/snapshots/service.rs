//! Flow C's use cases: the snapshot controller's tick over every protected database, and
//! the failover's database recovery in DR. The adapters only build the stores.
//!
//! * [`tick_all`] — per database: keep RDS's backup replication on where configured, then
//!   one level-triggered tick of the snapshot pipeline; the RPO a failover now would have,
//!   from the best source ([`newest_first`], the one rule a failover also follows).
//! * [`SnapshotRecovery`] — flow D's [`DatabaseRecovery`] port: restore every protected
//!   database in DR from the source with the newest data into the runbook's own database,
//!   then converge each (an Aurora cluster gets its instances once available) until it is
//!   available or in a state RDS does not leave by itself, saying how long it has waited.

use super::sources::{ensure_backup_replication, newest_first, start_failover_restore};
use super::{
    converge, failover_target, owned_by, Blocked, DatabaseKind, DatabaseRestorer,
    DescribedDatabase, Progress, ReplicatedBackupStore, ReplicationState, RestoreError,
    RestoreSource, SnapshotPolicy, SnapshotStore, TickReport, RESTORE_DEAD_ENDS, TAG_DATA_TIME,
    TAG_RESTORE_SOURCE, TAG_RUNBOOK,
};
use super::{DatabaseDirectory, DatabaseLocation};
use super::{GlobalSecondary, GlobalSecondaryStore};
use crate::failover::{DatabaseRecovery, Readiness};
use crate::port::PortError;
use crate::report::{Figure, Report, Section};
use crate::time::{Clock, EpochMillis};
use std::collections::BTreeMap;

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
/// from the source with the newest data into a database of the runbook's own (named and
/// tagged for it, see [`failover_target`]), DR region only. A runbook finds only its own
/// databases: never an earlier failover's, never one it did not make.
#[derive(Debug)]
pub struct SnapshotRecovery<K, B, C, D> {
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
    /// How long a runbook waits for its databases before it says OVERDUE
    /// (`[failover] database_ready_timeout_seconds`).
    pub ready_timeout_ms: EpochMillis,
    /// Where "database ready" announces each restored database to the application in DR
    /// (SSM parameters there).
    pub directory: D,
    /// Primary's account: where a restore of replicated backups lands (in the DR region).
    pub primary_account: String,
    /// Each database's credentials secret in DR, by identifier, named in its announcement.
    pub credentials: BTreeMap<String, String>,
}

/// A runbook's restore of one database, where it was found.
enum Found {
    /// DR's account: a snapshot copy's restore.
    Dr(DescribedDatabase),
    /// Primary's account in the DR region: a restore of the replicated backups (an
    /// instance).
    Backups(DescribedDatabase),
    /// Primary's account in the DR region: the Aurora global database's secondary this
    /// runbook promoted (it keeps its own name; its tags say whose it is).
    Global(GlobalSecondary),
}

impl Found {
    fn tags(&self) -> &BTreeMap<String, String> {
        match self {
            Found::Dr(db) | Found::Backups(db) => &db.tags,
            Found::Global(secondary) => &secondary.tags,
        }
    }
}

impl<K, B, C, D> SnapshotRecovery<K, B, C, D>
where
    K: Stores + Sync,
    B: ReplicatedBackupStore + GlobalSecondaryStore + Sync,
    C: Clock,
    D: DatabaseDirectory + Sync,
{
    /// The replicated backups' store, when `policy` has them configured.
    fn replicated_for(&self, policy: &SnapshotPolicy) -> Option<&B> {
        policy.backup_replication.as_ref().map(|_| &self.replicated)
    }

    /// The global database's store (the same account and region as the replicated
    /// backups'), when `policy` has a global secondary configured.
    fn global_for(&self, policy: &SnapshotPolicy) -> Option<&B> {
        policy.global_secondary.as_ref().map(|_| &self.replicated)
    }

    /// The database named `target` wherever a restore puts it: DR's account, then (when
    /// backups are replicated) primary's account in the DR region. Only the runbook's own
    /// name is looked at, so an earlier failover's database is never found.
    async fn find(
        &self,
        kind: DatabaseKind,
        policy: &SnapshotPolicy,
        target: &str,
        runbook: &str,
    ) -> Result<Option<Found>, PortError> {
        if let Some(found) = self.stores.of(kind).database(kind, target).await? {
            return Ok(Some(Found::Dr(found)));
        }
        if let Some(replicated) = self.replicated_for(policy) {
            if let Some(found) = replicated.database(target).await? {
                return Ok(Some(Found::Backups(found)));
            }
        }
        // A secondary is the runbook's once tagged so (before it is detached); another
        // runbook's is not looked at here: [`start_failover_restore`] refuses it loudly.
        if let (Some(store), Some(secondary)) = (self.global_for(policy), &policy.global_secondary)
        {
            if let Some(found) = store.secondary(&secondary.cluster).await? {
                if found.tags.get(TAG_RUNBOOK).map(String::as_str) == Some(runbook) {
                    return Ok(Some(Found::Global(found)));
                }
            }
        }
        Ok(None)
    }

    async fn start_one(
        &self,
        kind: DatabaseKind,
        policy: &SnapshotPolicy,
        target: &str,
        runbook: &str,
    ) -> Result<super::FailoverRestore, RestoreError> {
        start_failover_restore(
            self.stores.of(kind),
            self.replicated_for(policy),
            self.global_for(policy),
            kind,
            policy,
            target,
            runbook,
            self.clock.now_ms(),
        )
        .await
    }

    /// One database's start: its note.
    async fn start_database(
        &self,
        kind: DatabaseKind,
        policy: &SnapshotPolicy,
        runbook: &str,
        now: EpochMillis,
    ) -> String {
        let database = &policy.database;
        let target = match failover_target(database, runbook) {
            Ok(target) => target,
            Err(error) => return format!("{database}: restore NOT started: {error}"),
        };
        match self.find(kind, policy, &target, runbook).await {
            Err(error) => {
                format!("{database}: restore not started ({error}); the next round retries")
            }
            Ok(Some(found)) => match owned_by(found.tags(), runbook) {
                // An earlier invocation of this runbook started it and stopped before saving.
                Ok(()) => format!(
                    "{database}: {target} already restoring for this runbook, {}",
                    holds(found.tags(), now)
                ),
                Err(owner) => foreign(database, &target, &owner, runbook),
            },
            Ok(None) => match self.start_one(kind, policy, &target, runbook).await {
                Ok(started) => {
                    let mut note = match &started.source {
                        // Not restored into `target`: promoted in place, under its own name.
                        RestoreSource::GlobalSecondary {
                            cluster,
                            global_cluster,
                            lag_ms,
                            data_ms,
                            ..
                        } => format!(
                            "{database}: PROMOTING {cluster} in place (global database {global_cluster}, detach and promote in {}, primary's account): RPO before promotion {lag_ms} ms, data time {data_ms} ms (age {} s)",
                            self.dr_region,
                            started.rpo_ms / 1000
                        ),
                        source => format!(
                            "{database}: restoring into {target} from {}, data time {} ms (age {} s){}",
                            source.describe(),
                            source.data_ms(),
                            started.rpo_ms / 1000,
                            match source {
                                RestoreSource::ReplicatedBackups { .. } =>
                                    format!(", in primary's account in {}", self.dr_region),
                                _ => String::new(),
                            }
                        ),
                    };
                    for extra in &started.notes {
                        note.push_str(&format!("; {extra}"));
                    }
                    note
                }
                Err(error) => format!("{database}: restore not started: {error}"),
            },
        }
    }
}

/// What a restored database holds, from its tags: the source and the data time.
fn holds(tags: &BTreeMap<String, String>, now: EpochMillis) -> String {
    let source = tags
        .get(TAG_RESTORE_SOURCE)
        .map_or("an unrecorded source", String::as_str);
    match tags
        .get(TAG_DATA_TIME)
        .and_then(|t| t.parse::<EpochMillis>().ok())
    {
        Some(data_ms) => format!(
            "from {source}, data time {data_ms} ms (age {} s)",
            (now - data_ms).max(0) / 1000
        ),
        None => format!("from {source}, data time unrecorded"),
    }
}

/// The loud word on a database under the runbook's name that is not the runbook's.
fn foreign(database: &str, target: &str, owner: &str, runbook: &str) -> String {
    format!(
        "{database}: FOREIGN database {target} exists and is NOT this runbook's ({owner}, \
         expected {TAG_RUNBOOK}={runbook}); it is not used and nothing is restored over it. \
         Find out whose it is, then rename or delete it: the runbook then restores anew"
    )
}

impl<K, B, C, D> DatabaseRecovery for SnapshotRecovery<K, B, C, D>
where
    K: Stores + Sync,
    B: ReplicatedBackupStore + GlobalSecondaryStore + Sync,
    C: Clock,
    D: DatabaseDirectory + Sync,
{
    async fn start(&self, runbook: &str) -> Vec<String> {
        let now = self.clock.now_ms();
        let mut notes = Vec::new();
        for (kind, policy) in &self.databases {
            notes.push(self.start_database(*kind, policy, runbook, now).await);
        }
        notes
    }

    async fn ready(&self, runbook: &str, started_ms: EpochMillis) -> Result<Readiness, PortError> {
        let now = self.clock.now_ms();
        let mut done = Vec::new();
        let mut waiting = Vec::new();
        let mut ready = Vec::new();
        for (kind, policy) in &self.databases {
            let (kind, database) = (*kind, &policy.database);
            let target = match failover_target(database, runbook) {
                Ok(target) => target,
                Err(error) => {
                    // No wait fixes a name RDS refuses (the config check prevents it).
                    done.push(format!(
                        "{database}: restore FAILED: {error}; restore it by hand"
                    ));
                    continue;
                }
            };
            let Some(found) = self.find(kind, policy, &target, runbook).await? else {
                match self.start_one(kind, policy, &target, runbook).await {
                    Ok(_) => waiting.push(format!("{database}: {target} restore started")),
                    // Nothing will ever appear by waiting: finish, loudly.
                    Err(RestoreError::NothingToRestore(database)) => done.push(format!(
                        "{database}: NOTHING restorable in DR (no snapshot copy, no replicated backups); restore it by hand"
                    )),
                    Err(RestoreError::Port(error)) => return Err(error),
                    Err(other) => {
                        return Err(PortError::transient(
                            "RestoreDBInstanceFromDBSnapshot",
                            other.to_string(),
                        ))
                    }
                }
                continue;
            };
            if let Err(owner) = owned_by(found.tags(), runbook) {
                // Never success, never adopted: the step fails with this word every round
                // (the runbook stays pending, so failback waits) until a person acts.
                return Err(PortError::permanent(
                    "DescribeDBInstances",
                    foreign(database, &target, &owner, runbook),
                ));
            }
            let holds = holds(found.tags(), now);
            let account = match found {
                Found::Dr(_) => policy.dr_account.as_str(),
                // Replicated backups and a global secondary: primary's account, DR region.
                Found::Backups(_) | Found::Global(_) => self.primary_account.as_str(),
            };
            let source = found
                .tags()
                .get(TAG_RESTORE_SOURCE)
                .cloned()
                .unwrap_or_else(|| "an unrecorded source".to_owned());
            let data_time_ms = found
                .tags()
                .get(TAG_DATA_TIME)
                .and_then(|t| t.parse::<EpochMillis>().ok())
                .unwrap_or_default();
            // The identifier the application connects to: a promoted secondary keeps its own.
            let restored_as = match &found {
                Found::Global(_) => policy
                    .global_secondary
                    .as_ref()
                    .map_or_else(|| target.clone(), |g| g.cluster.to_string()),
                _ => target.clone(),
            };
            let target = match &found {
                // Promoted in place: its own name.
                Found::Global(_) => policy
                    .global_secondary
                    .as_ref()
                    .map_or(target, |g| format!("{} (promoted)", g.cluster)),
                _ => target,
            };
            let progress = match found {
                Found::Dr(_) => {
                    // A cluster's instances carry the runbook's tags too.
                    let tags: Vec<(String, String)> = found
                        .tags()
                        .iter()
                        .filter(|(k, _)| {
                            [TAG_RUNBOOK, TAG_RESTORE_SOURCE, TAG_DATA_TIME].contains(&k.as_str())
                        })
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    converge(self.stores.of(kind), kind, &target, &policy.restore, &tags).await?
                }
                Found::Backups(db) => match (db.status.as_str(), db.endpoint) {
                    ("available", Some(endpoint)) => Progress::Ready(endpoint),
                    (status, _) if RESTORE_DEAD_ENDS.contains(&status) => {
                        Progress::DeadEnd(format!("{target} {status}"))
                    }
                    (status, _) => Progress::Waiting(format!("{target} {status}")),
                },
                Found::Global(secondary) => match &policy.global_secondary {
                    Some(config) => {
                        super::global::converge_promoted(&self.replicated, config, &secondary)
                            .await?
                    }
                    None => Progress::DeadEnd("global_secondary no longer configured".into()),
                },
            };
            match progress {
                Progress::Ready(endpoint) => {
                    done.push(format!(
                        "{database}: {target} available at {}:{}, restored {holds}",
                        endpoint.address, endpoint.port
                    ));
                    ready.push(DatabaseLocation {
                        database: database.clone(),
                        restored_as: restored_as.clone(),
                        kind,
                        address: endpoint.address,
                        port: endpoint.port,
                        account: account.to_owned(),
                        region: self.dr_region.clone(),
                        source: source.clone(),
                        data_time_ms,
                        runbook: runbook.to_owned(),
                        credentials_secret_arn: self.credentials.get(database).cloned(),
                        written_ms: now,
                    });
                }
                // States RDS does not leave by itself: finish, loudly, rather than wait.
                Progress::DeadEnd(what) => done.push(format!(
                    "{database}: restore FAILED ({what}); restore it by hand"
                )),
                Progress::Waiting(what) => waiting.push(format!("{database}: {what}")),
                Progress::Missing => waiting.push(format!("{database}: {target} not visible yet")),
            }
        }
        if waiting.is_empty() {
            // "Database ready": the application in DR finds each restored database by its
            // parameter. Not announced, not ready: a failure keeps the step pending and the
            // next round writes again (overwriting is idempotent).
            // (Not in the note: its name follows from the config, and the note must keep
            // each database's data time within a note's length.)
            for location in &ready {
                self.directory.publish(location).await?;
            }
            return Ok(Readiness::Ready(done.join("; ")));
        }
        let waited_ms = (now - started_ms).max(0);
        let overdue = waited_ms > self.ready_timeout_ms;
        let mut progress = format!(
            "{}databases not ready after {} s: {}",
            if overdue { "OVERDUE: " } else { "" },
            waited_ms / 1000,
            waiting.join("; ")
        );
        if overdue {
            progress.push_str(&format!(
                " (bound {} s, [failover] database_ready_timeout_seconds; still waiting: look at them in the RDS console of the DR region)",
                self.ready_timeout_ms / 1000
            ));
        }
        if !done.is_empty() {
            progress.push_str(&format!("; done: {}", done.join("; ")));
        }
        Ok(Readiness::Waiting { progress, overdue })
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
