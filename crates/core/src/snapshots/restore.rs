//! Restoring the newest restorable DR snapshot: what failover and drills do with flow C's
//! output. The DR account restores its own copy, found by listing DR's own snapshots only:
//! no call reaches primary, whose region may be the one that failed.
//!
//! A restore converges on RDS's timeline, level-triggered: starting it only asks RDS for
//! the database; each later look ([`converge`]) does the next step that RDS allows now. An
//! Aurora cluster serves nothing until it has DB instances, and RDS takes them only once
//! the cluster is `available` (the RestoreDBClusterFromSnapshot API reference: "You can
//! create DB instances only after the RestoreDBClusterFromSnapshot operation has completed
//! and the DB cluster is available"), so the instances are created by the look that finds
//! the cluster available, never right after the restore call.

use crate::port::PortError;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use super::{decide, DatabaseKind, SnapshotPolicy};
use crate::time::EpochMillis;

/// Where a restored database answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseEndpoint {
    /// Host name.
    pub address: String,
    /// Port.
    pub port: u16,
}

/// A database as RDS describes it: what a restore waits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedDatabase {
    /// RDS's status (`creating`, `available`, …).
    pub status: String,
    /// Where it answers, once RDS gives both address and port.
    pub endpoint: Option<DatabaseEndpoint>,
    /// Its tags (who restored it, from what).
    pub tags: BTreeMap<String, String>,
}

/// What asking a restored cluster for one more DB instance came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceCreation {
    /// RDS is creating it (or it was there already).
    Started,
    /// The cluster does not take instances yet (`InvalidDBClusterStateFault`): later.
    Later,
}

/// RDS in the DR account, as restoring needs it.
pub trait DatabaseRestorer {
    /// DR's own copies of `database` (the DR account, the DR region): what can be restored.
    fn restorable(
        &self,
        database: &str,
    ) -> impl Future<Output = Result<Vec<super::Snapshot>, PortError>> + Send;
    /// Start restoring `snapshot_id` into a new database named `target`, tagged with
    /// `tags`, placed and sized as `settings` say, never publicly accessible. A database
    /// of that name that already exists is success (an earlier, interrupted restore, or
    /// someone else's: the caller reads its tags). An Aurora cluster is restored alone:
    /// [`converge`] gives it its instances once RDS allows.
    fn restore(
        &self,
        kind: DatabaseKind,
        snapshot_id: &str,
        target: &str,
        settings: &super::RestoreSettings,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// The database `target` of `kind` (a cluster's DB instances are of kind `Instance`);
    /// `None` if it does not exist.
    fn database(
        &self,
        kind: DatabaseKind,
        target: &str,
    ) -> impl Future<Output = Result<Option<DescribedDatabase>, PortError>> + Send;
    /// Create the DB instance `instance` in the restored Aurora cluster `cluster`, on the
    /// cluster's engine, as `settings` say, never publicly accessible, tagged with `tags`.
    fn create_cluster_instance(
        &self,
        cluster: &str,
        instance: &str,
        settings: &super::RestoreSettings,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<InstanceCreation, PortError>> + Send;
    /// Delete a database without a final snapshot (drills' scratch databases only).
    fn delete_database(
        &self,
        kind: DatabaseKind,
        target: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// The `n`th DB instance of a restored Aurora cluster (1: the writer).
pub fn cluster_instance(cluster: &str, n: u32) -> String {
    format!("{cluster}-{n}")
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

/// Where a restore stands after one look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// There is no database by that name (not started, or not visible yet).
    Missing,
    /// RDS works; what it is doing, for a person.
    Waiting(String),
    /// Available, with all its instances: where it answers.
    Ready(DatabaseEndpoint),
    /// In a state RDS does not leave by itself: what and which.
    DeadEnd(String),
}

/// One level-triggered look at the restore into `target`: an instance is ready once
/// available; an Aurora cluster once available with its `settings.instances` DB instances
/// (`<target>-1`, the writer, …) available, each created by the look that finds the cluster
/// available and the instance missing. Idempotent: run it as often as you like.
pub async fn converge<R>(
    restorer: &R,
    kind: DatabaseKind,
    target: &str,
    settings: &super::RestoreSettings,
    tags: &[(String, String)],
) -> Result<Progress, PortError>
where
    R: DatabaseRestorer + Sync,
{
    let Some(database) = restorer.database(kind, target).await? else {
        return Ok(Progress::Missing);
    };
    if RESTORE_DEAD_ENDS.contains(&database.status.as_str()) {
        return Ok(Progress::DeadEnd(format!("{target} {}", database.status)));
    }
    if database.status != "available" {
        return Ok(Progress::Waiting(format!("{target} {}", database.status)));
    }
    if kind == DatabaseKind::Cluster {
        let mut waiting = Vec::new();
        for n in 1..=settings.instances.max(1) {
            let instance = cluster_instance(target, n);
            match restorer.database(DatabaseKind::Instance, &instance).await? {
                None => match restorer
                    .create_cluster_instance(target, &instance, settings, tags)
                    .await?
                {
                    InstanceCreation::Started => waiting.push(format!("{instance} requested")),
                    // Available to us, not yet to the API that adds instances: next look.
                    InstanceCreation::Later => {
                        waiting.push(format!("{instance} waits for the cluster"))
                    }
                },
                Some(member) if RESTORE_DEAD_ENDS.contains(&member.status.as_str()) => {
                    return Ok(Progress::DeadEnd(format!("{instance} {}", member.status)))
                }
                Some(member) if member.status != "available" => {
                    waiting.push(format!("{instance} {}", member.status))
                }
                Some(_) => {}
            }
        }
        if !waiting.is_empty() {
            return Ok(Progress::Waiting(format!(
                "cluster {target} available, instances: {}",
                waiting.join(", ")
            )));
        }
    }
    Ok(match database.endpoint {
        Some(endpoint) => Progress::Ready(endpoint),
        None => Progress::Waiting(format!("{target} available, no endpoint yet")),
    })
}

/// A restored database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The DR snapshot it came from.
    pub snapshot_id: String,
    /// The database's name.
    pub target: String,
    /// Where it answers.
    pub endpoint: DatabaseEndpoint,
    /// How old its data is: now − the source snapshot's time.
    pub rpo_ms: EpochMillis,
}

/// Why a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// DR holds no restorable snapshot of this database.
    #[error("no restorable snapshot of {0} in DR yet; run `drctl snapshot now` and wait for the copy, or check the snapshot controller's errors")]
    NothingToRestore(String),
    /// The restored database did not become available in time.
    #[error("{target} not available after {waited:?} (status {status}); check it in the RDS console of the DR account")]
    Timeout {
        /// The database.
        target: String,
        /// How long we waited.
        waited: Duration,
        /// Its last status.
        status: String,
    },
    /// The restored database is in a state RDS does not leave by itself.
    #[error("restore FAILED: {0}; look at it in the RDS console of the DR account, delete it and restore again")]
    DeadEnd(String),
    /// An AWS call failed.
    #[error(transparent)]
    Port(#[from] PortError),
}

/// What to restore, where, and how patiently.
#[derive(Debug, Clone)]
pub struct RestoreRequest<'a> {
    /// Instance or cluster.
    pub kind: DatabaseKind,
    /// The protected database (its snapshots are restored).
    pub policy: &'a SnapshotPolicy,
    /// The name of the database to create in DR.
    pub target: &'a str,
    /// How often to check whether it is available.
    pub poll: Duration,
    /// How long to wait at most.
    pub timeout: Duration,
    /// Where and how it lands (the policy's, or its scratch variant for a drill).
    pub settings: super::RestoreSettings,
    /// Tags the restored database (and a cluster's instances) get.
    pub tags: Vec<(String, String)>,
}

/// Start restoring the newest restorable DR snapshot of `policy`'s database into `target`,
/// tagged with `tags`, without waiting (failover moves traffic while RDS works). Returns
/// the snapshot and the age of its data. A `target` that already exists is success.
pub async fn start_restore<R>(
    restorer: &R,
    kind: DatabaseKind,
    policy: &SnapshotPolicy,
    target: &str,
    settings: &super::RestoreSettings,
    tags: &[(String, String)],
    now: EpochMillis,
) -> Result<(String, EpochMillis), RestoreError>
where
    R: DatabaseRestorer + Sync,
{
    let observed = restorer.restorable(&policy.database).await?;
    let plan = decide(now, policy, &observed);
    let (Some(snapshot_id), Some(rpo_ms)) = (plan.newest_restorable, plan.rpo_ms) else {
        return Err(RestoreError::NothingToRestore(policy.database.clone()));
    };
    restorer
        .restore(kind, &snapshot_id, target, settings, tags)
        .await?;
    Ok((snapshot_id, rpo_ms))
}

/// Restore the newest restorable DR snapshot into `request.target` and wait, converging,
/// until it is available (an Aurora cluster with its instances). `sleep` is the runtime's
/// timer (`tokio::time::sleep`), so the core stays free of a runtime.
pub async fn restore_newest<R, F>(
    restorer: &R,
    request: &RestoreRequest<'_>,
    now: EpochMillis,
    sleep: impl Fn(Duration) -> F,
) -> Result<Restored, RestoreError>
where
    R: DatabaseRestorer + Sync,
    F: Future<Output = ()>,
{
    let (snapshot_id, rpo_ms) = start_restore(
        restorer,
        request.kind,
        request.policy,
        request.target,
        &request.settings,
        &request.tags,
        now,
    )
    .await?;
    let started = std::time::Instant::now();
    let mut status = String::from("unknown");
    while started.elapsed() < request.timeout {
        let progress = converge(
            restorer,
            request.kind,
            request.target,
            &request.settings,
            &request.tags,
        )
        .await?;
        match progress {
            Progress::Ready(endpoint) => {
                return Ok(Restored {
                    snapshot_id,
                    target: request.target.to_owned(),
                    endpoint,
                    rpo_ms,
                })
            }
            Progress::DeadEnd(what) => return Err(RestoreError::DeadEnd(what)),
            Progress::Waiting(what) => status = what,
            Progress::Missing => {}
        }
        sleep(request.poll).await;
    }
    Err(RestoreError::Timeout {
        target: request.target.to_owned(),
        waited: request.timeout,
        status,
    })
}
