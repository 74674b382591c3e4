//! Failback with the database: what becomes of the databases a failover restored in DR,
//! flow D's [`DatabaseFailback`] on flow C's stores.
//!
//! While DR served, the application wrote to the database the failover restored (alerts,
//! readings, clinicians' edits). Failing back without it strands those writes; so failback
//! either carries them back — a final snapshot of each restored database, taken after the
//! flip (DR takes no more of the fleet's writes), made into a snapshot in primary's account
//! *and* primary's region, named for the operator's merge or restore — or records that the
//! operator discarded them. Then each restored database is retired: deleted with a final
//! snapshot kept; one under deletion protection is left as it is, loudly (turning the
//! protection off is a person's decision, not a runbook's).
//!
//! **The path** (one for instances and Aurora clusters, each hop one AWS allows):
//!
//! ```text
//!  restored in DR's account ──snapshot──► <db>-dr-writes-<ms> (DR's account, DR region, DR's key)
//!       ──share with primary's account──► copied by primary's account, same region, under
//!       primary's regional key (the one flow C's regional copies use)  ─┐
//!  restored from replicated backups (primary's account, DR region) ──snapshot──┤
//!                                                                              ▼
//!       <db>-dr-writes-<ms> in primary's account, DR region ──copy, same account──►
//!       <db>-dr-writes-<ms> in primary's account, primary's region, under the key of the
//!       protected database's own snapshots there
//! ```
//!
//! Aurora's user guide: "You can't copy a DB cluster snapshot across Regions and accounts in
//! a single step. Perform one step for each of these copy actions." (RDS has since added a
//! one-step cross-account, cross-Region copy for DB snapshots; the two-step path works for
//! both kinds and under either rule, and the sandbox refuses the one step.) Sharing happens
//! in the DR region, so the only cross-account key access is primary's account reading a
//! snapshot under DR's key through RDS — one key policy statement in DR — and the
//! cross-Region hop stays inside primary's account, between keys it already owns.
//!
//! Level-triggered: each look finds where each snapshot is and starts the next hop, so a
//! `drctl failback` cut short continues where it stopped and never takes a second snapshot
//! (every name derives from the failback runbook's id).

use std::collections::BTreeMap;
use std::future::Future;

use super::service::Stores;
use super::DatabaseDirectory;
use super::{
    check_identifier, failover_target, owned_by, DatabaseKind, Location, ReplicatedBackupStore,
    SnapshotPolicy, SnapshotRecovery, SnapshotState, RDS_IDENTIFIER_MAX, TAG_DATA_TIME,
    TAG_RESTORE_SOURCE, TAG_RUNBOOK,
};
use crate::failover::{DatabaseFailback, Readiness};
use crate::port::PortError;
use crate::time::{Clock, EpochMillis};

/// Set on a carried-back snapshot: the restored DR database it is a snapshot of.
pub const TAG_CARRIED_FROM: &str = "dr:carried-back-from";

/// A database a failover restored, as failback needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiringDatabase {
    /// RDS's status.
    pub status: String,
    /// Its tags (whose it is, from what).
    pub tags: BTreeMap<String, String>,
    /// Whether RDS refuses to delete it until a person turns this off.
    pub deletion_protection: bool,
}

/// A snapshot failback made, where it was looked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundSnapshot {
    /// Its ARN (a copy's source).
    pub arn: String,
    /// Its state.
    pub state: SnapshotState,
}

/// What asking RDS to delete a restored database came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retirement {
    /// RDS is deleting it (taking the final snapshot first), or it is gone.
    Deleting,
    /// It is in a state RDS does not delete from yet (backing up, modifying): later.
    Later,
}

/// RDS as failback needs it, for one kind of database, in the three places flow C knows:
/// [`Location::Dr`] (DR's account, DR region), [`Location::Regional`] (primary's account,
/// DR region: where a restore of replicated backups lives) and [`Location::Source`]
/// (primary's account and region: where carried-back snapshots land).
pub trait FailbackStore {
    /// The database `target` at `at`; `None` if there is none.
    fn retiring(
        &self,
        at: Location,
        target: &str,
    ) -> impl Future<Output = Result<Option<RetiringDatabase>, PortError>> + Send;
    /// The manual snapshot `id` at `at`; `None` if there is none.
    fn snapshot_named(
        &self,
        at: Location,
        id: &str,
    ) -> impl Future<Output = Result<Option<FoundSnapshot>, PortError>> + Send;
    /// Snapshot the database `target` at `at` as `id`, tagged (already there is done).
    fn snapshot_database(
        &self,
        at: Location,
        target: &str,
        id: &str,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Let primary's account copy DR's snapshot `id` (the `restore` attribute).
    fn share_with_primary(&self, id: &str) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Copy `source_arn` into `at` as `id` under `kms_key`, tagged (already there is done).
    fn copy_into(
        &self,
        at: Location,
        source_arn: &str,
        id: &str,
        kms_key: &str,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// The key primary's own snapshots of `database` are encrypted with in primary's region
    /// (the newest one's): what a carried-back snapshot is encrypted with there.
    fn source_key(
        &self,
        database: &str,
    ) -> impl Future<Output = Result<Option<String>, PortError>> + Send;
    /// Delete the database `target` at `at`, RDS taking `final_snapshot` first (a cluster's
    /// DB instances go first, without one: the cluster's snapshot holds the data).
    fn retire_database(
        &self,
        at: Location,
        target: &str,
        final_snapshot: &str,
    ) -> impl Future<Output = Result<Retirement, PortError>> + Send;
}

/// The snapshot a failback carries `database`'s DR writes back in, on every side:
/// `<database>-dr-writes-<ms>`, `<ms>` the failback's start (from its id), so the operator
/// in primary knows what it is and every invocation of the failback finds the same one.
pub fn carried_name(database: &str, failback_runbook: &str) -> Result<String, PortError> {
    named(database, "dr-writes", failback_runbook)
}

/// The final snapshot RDS keeps of a retired DR database: `<database>-dr-final-<ms>`.
pub fn final_name(database: &str, failback_runbook: &str) -> Result<String, PortError> {
    named(database, "dr-final", failback_runbook)
}

fn named(database: &str, what: &str, failback_runbook: &str) -> Result<String, PortError> {
    let ms = failback_runbook
        .rsplit('-')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(failback_runbook);
    let name = format!("{}-{what}-{ms}", database.to_ascii_lowercase());
    check_identifier(&name, RDS_IDENTIFIER_MAX)
        .map_err(|e| PortError::permanent("CreateDBSnapshot", e.to_string()))?;
    Ok(name)
}

/// A restored database of the failover, where it was found.
struct Restored<'a> {
    kind: DatabaseKind,
    policy: &'a SnapshotPolicy,
    target: String,
    at: Location,
    db: RetiringDatabase,
}

impl<K, B, C, D> SnapshotRecovery<K, B, C, D>
where
    K: Stores + Sync,
    K::Store: FailbackStore,
    B: ReplicatedBackupStore + Sync,
    C: Clock,
    D: DatabaseDirectory + Sync,
{
    /// Every database `failover_runbook` restored that still exists and is its (by tag):
    /// in DR's account, or (replicated backups) in primary's account in the DR region.
    async fn restored_by(&self, failover_runbook: &str) -> Result<Vec<Restored<'_>>, PortError> {
        let mut found = Vec::new();
        for (kind, policy) in &self.databases {
            let Ok(target) = failover_target(&policy.database, failover_runbook) else {
                continue; // never restored: RDS refuses the name (the config check says so)
            };
            let store = self.stores.of(*kind);
            let mut places = vec![Location::Dr];
            if policy.backup_replication.is_some() {
                places.push(Location::Regional);
            }
            for at in places {
                if let Some(db) = store.retiring(at, &target).await? {
                    // A database under the name that is not the failover's is not ours to
                    // snapshot or retire (the failover said FOREIGN loudly already).
                    if owned_by(&db.tags, failover_runbook).is_ok() {
                        found.push(Restored {
                            kind: *kind,
                            policy,
                            target: target.clone(),
                            at,
                            db,
                        });
                    }
                    break;
                }
            }
        }
        Ok(found)
    }

    fn describe(&self, r: &Restored<'_>, now: EpochMillis) -> String {
        let place = match r.at {
            Location::Regional => format!("primary's account in {}", self.dr_region),
            _ => format!("DR's account in {}", self.dr_region),
        };
        let data = match r
            .db
            .tags
            .get(TAG_DATA_TIME)
            .and_then(|t| t.parse::<EpochMillis>().ok())
        {
            Some(ms) => format!(
                "data from {ms} ms (age {} s) plus DR's writes since",
                (now - ms).max(0) / 1000
            ),
            None => "data time unrecorded".to_owned(),
        };
        format!(
            "{} ({}) restored as {} in {place}, {}, from {}, {data}{}",
            r.policy.database,
            match r.kind {
                DatabaseKind::Instance => "instance",
                DatabaseKind::Cluster => "cluster",
            },
            r.target,
            r.db.status,
            r.db.tags
                .get(TAG_RESTORE_SOURCE)
                .map_or("an unrecorded source", String::as_str),
            if r.db.deletion_protection {
                ", deletion protection ON"
            } else {
                ""
            }
        )
    }

    /// One hop of `r`'s carry-back: `Ok(Some(note))` once its snapshot is in primary's
    /// region, `Ok(None)` and a progress line while RDS works.
    async fn carry_one(
        &self,
        r: &Restored<'_>,
        failback_runbook: &str,
        progress: &mut Vec<String>,
    ) -> Result<Option<String>, PortError> {
        let store = self.stores.of(r.kind);
        let name = carried_name(&r.policy.database, failback_runbook)?;
        let tags = vec![
            (TAG_RUNBOOK.to_owned(), failback_runbook.to_owned()),
            (TAG_CARRIED_FROM.to_owned(), r.target.clone()),
        ];
        let database = &r.policy.database;
        // Primary's region: there already?
        match store.snapshot_named(Location::Source, &name).await? {
            Some(s) if s.state == SnapshotState::Available => {
                return Ok(Some(format!(
                    "{database}: DR's writes CARRIED BACK as snapshot {name} in primary's account and region (of {}, taken after the flip): restore or merge it there",
                    r.target
                )))
            }
            Some(s) if s.state == SnapshotState::InProgress => {
                progress.push(format!("{database}: {name} copying into primary's region"));
                return Ok(None);
            }
            Some(_) => return Err(failed(&name, "primary's region")),
            None => {}
        }
        // Primary's account in the DR region: the hop before.
        match store.snapshot_named(Location::Regional, &name).await? {
            Some(s) if s.state == SnapshotState::Available => {
                let key = store.source_key(database).await?.ok_or_else(|| {
                    PortError::permanent(
                        "CopyDBSnapshot",
                        format!("no snapshot of {database} in primary's region to take its key from; take one (`drctl snapshot now`) and run `drctl failback` again"),
                    )
                })?;
                store
                    .copy_into(Location::Source, &s.arn, &name, &key, &tags)
                    .await?;
                progress.push(format!(
                    "{database}: {name} copy into primary's region started"
                ));
                return Ok(None);
            }
            Some(s) if s.state == SnapshotState::InProgress => {
                progress.push(format!(
                    "{database}: {name} in primary's account (DR region) {}",
                    if r.at == Location::Regional {
                        "snapshotting"
                    } else {
                        "copying"
                    }
                ));
                return Ok(None);
            }
            Some(_) => return Err(failed(&name, "primary's account in the DR region")),
            None => {}
        }
        if r.at == Location::Regional {
            // Restored from replicated backups: already in primary's account.
            return self.snapshot_restored(r, &name, &tags, progress).await;
        }
        match store.snapshot_named(Location::Dr, &name).await? {
            None => self.snapshot_restored(r, &name, &tags, progress).await,
            Some(s) if s.state == SnapshotState::InProgress => {
                progress.push(format!(
                    "{database}: final snapshot {name} of {} in DR's account",
                    r.target
                ));
                Ok(None)
            }
            Some(s) if s.state == SnapshotState::Available => {
                store.share_with_primary(&name).await?;
                store
                    .copy_into(
                        Location::Regional,
                        &s.arn,
                        &name,
                        &r.policy.regional_kms_key,
                        &tags,
                    )
                    .await?;
                progress.push(format!(
                    "{database}: {name} shared with primary's account, its copy there started"
                ));
                Ok(None)
            }
            Some(_) => Err(failed(&name, "DR's account")),
        }
    }

    async fn snapshot_restored(
        &self,
        r: &Restored<'_>,
        name: &str,
        tags: &[(String, String)],
        progress: &mut Vec<String>,
    ) -> Result<Option<String>, PortError> {
        let store = self.stores.of(r.kind);
        // Looked at again: the status `restored_by` read may be a step old.
        match store.retiring(r.at, &r.target).await? {
            None => Err(PortError::permanent(
                "CreateDBSnapshot",
                format!("{} is gone before its writes were carried back: nothing to snapshot; find its final snapshot in the RDS console of the DR region", r.target),
            )),
            Some(db) if db.status != "available" => {
                progress.push(format!("{}: {} {} (snapshot when available)", r.policy.database, r.target, db.status));
                Ok(None)
            }
            Some(_) => {
                store.snapshot_database(r.at, &r.target, name, tags).await?;
                progress.push(format!("{}: final snapshot {name} of {} started", r.policy.database, r.target));
                Ok(None)
            }
        }
    }

    fn waiting(&self, progress: Vec<String>, started_ms: EpochMillis, what: &str) -> Readiness {
        let waited_ms = (self.clock.now_ms() - started_ms).max(0);
        let overdue = waited_ms > self.ready_timeout_ms;
        Readiness::Waiting {
            progress: format!(
                "{}{what} after {} s: {}",
                if overdue { "OVERDUE: " } else { "" },
                waited_ms / 1000,
                progress.join("; ")
            ),
            overdue,
        }
    }
}

fn failed(name: &str, place: &str) -> PortError {
    PortError::permanent(
        "CopyDBSnapshot",
        format!("snapshot {name} in {place} FAILED; delete it there and run `drctl failback` again (it is taken or copied anew)"),
    )
}

impl<K, B, C, D> DatabaseFailback for SnapshotRecovery<K, B, C, D>
where
    K: Stores + Sync,
    K::Store: FailbackStore,
    B: ReplicatedBackupStore + Sync,
    C: Clock + Sync,
    D: DatabaseDirectory + Sync,
{
    async fn restored(&self, failover_runbook: &str) -> Result<Vec<String>, PortError> {
        let now = self.clock.now_ms();
        Ok(self
            .restored_by(failover_runbook)
            .await?
            .iter()
            .map(|r| self.describe(r, now))
            .collect())
    }

    async fn carry_back(
        &self,
        failover_runbook: &str,
        failback_runbook: &str,
        started_ms: EpochMillis,
    ) -> Result<Readiness, PortError> {
        let mut done = Vec::new();
        let mut progress = Vec::new();
        let restored = self.restored_by(failover_runbook).await?;
        for r in &restored {
            if let Some(note) = self.carry_one(r, failback_runbook, &mut progress).await? {
                done.push(note);
            }
        }
        if restored.is_empty() {
            done.push(format!(
                "no database of {failover_runbook} left in DR: nothing carried back"
            ));
        }
        if progress.is_empty() {
            return Ok(Readiness::Ready(done.join("; ")));
        }
        Ok(self.waiting(progress, started_ms, "DR's writes not carried back yet"))
    }

    async fn retire(
        &self,
        failover_runbook: &str,
        failback_runbook: &str,
        started_ms: EpochMillis,
    ) -> Result<Readiness, PortError> {
        let mut done = Vec::new();
        let mut progress = Vec::new();
        for r in self.restored_by(failover_runbook).await? {
            let database = &r.policy.database;
            let final_snapshot = final_name(database, failback_runbook)?;
            if r.db.status == "deleting" {
                // Its announcement goes with it: the application in DR must not find a
                // database that is being deleted (idempotent: none is done).
                self.directory.withdraw(database).await?;
                done.push(format!(
                    "{database}: {} RETIRED (deleting), final snapshot {final_snapshot} kept, {} withdrawn",
                    r.target,
                    self.directory.name_of(database)
                ));
            } else if r.db.deletion_protection {
                // Not turned off here: it was set so that no automation deletes the
                // database; the operator does it knowingly (the writes are carried back or
                // discarded on record by now). The runbook finishes and says so loudly.
                done.push(format!(
                    "{database}: {} NOT RETIRED: deletion protection is on; retire it by hand: turn deletion protection off, then delete it with final snapshot {final_snapshot}",
                    r.target
                ));
            } else if r.db.status != "available" {
                progress.push(format!(
                    "{database}: {} {} (retired when available)",
                    r.target, r.db.status
                ));
            } else {
                match self
                    .stores
                    .of(r.kind)
                    .retire_database(r.at, &r.target, &final_snapshot)
                    .await?
                {
                    Retirement::Deleting => {
                        self.directory.withdraw(database).await?;
                        done.push(format!(
                            "{database}: {} RETIRED (deleting), final snapshot {final_snapshot} kept, {} withdrawn",
                            r.target,
                            self.directory.name_of(database)
                        ))
                    }
                    Retirement::Later => {
                        progress.push(format!("{database}: {} not deletable yet", r.target))
                    }
                }
            }
        }
        if progress.is_empty() {
            if done.is_empty() {
                done.push(format!(
                    "no database of {failover_runbook} left in DR to retire"
                ));
            }
            return Ok(Readiness::Ready(done.join("; ")));
        }
        Ok(self.waiting(progress, started_ms, "DR's databases not retired yet"))
    }
}

#[cfg(test)]
#[path = "carry_back_tests.rs"]
mod tests;
