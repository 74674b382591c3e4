//! Restoring the newest restorable DR snapshot: what failover and drills do with flow C's
//! output. The DR account restores its own copy, found by listing DR's own snapshots only:
//! no call reaches primary, whose region may be the one that failed.

use crate::port::PortError;
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

/// RDS in the DR account, as restoring needs it.
pub trait DatabaseRestorer {
    /// DR's own copies of `database` (the DR account, the DR region): what can be restored.
    fn restorable(
        &self,
        database: &str,
    ) -> impl Future<Output = Result<Vec<super::Snapshot>, PortError>> + Send;
    /// Start restoring `snapshot_id` into a new database named `target`, placed and sized
    /// as `settings` say, never publicly accessible. A database of that name that already
    /// exists is success (an earlier, interrupted restore); an Aurora cluster also gets its
    /// instances.
    fn restore(
        &self,
        kind: DatabaseKind,
        snapshot_id: &str,
        target: &str,
        settings: &super::RestoreSettings,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// The database's status and, once available, its endpoint; `None` if it does not exist.
    fn database(
        &self,
        kind: DatabaseKind,
        target: &str,
    ) -> impl Future<Output = Result<Option<(String, Option<DatabaseEndpoint>)>, PortError>> + Send;
    /// Delete a database without a final snapshot (drills' scratch databases only).
    fn delete_database(
        &self,
        kind: DatabaseKind,
        target: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
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
}

/// Start restoring the newest restorable DR snapshot of `policy`'s database into `target`,
/// without waiting (failover moves traffic while RDS works). Returns the snapshot and the
/// age of its data. A `target` that already exists is success.
pub async fn start_restore<R>(
    restorer: &R,
    kind: DatabaseKind,
    policy: &SnapshotPolicy,
    target: &str,
    settings: &super::RestoreSettings,
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
        .restore(kind, &snapshot_id, target, settings)
        .await?;
    Ok((snapshot_id, rpo_ms))
}

/// Restore the newest restorable DR snapshot into `request.target` and wait until it is
/// available. `sleep` is the runtime's timer (`tokio::time::sleep`), so the core stays
/// free of a runtime.
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
        now,
    )
    .await?;
    let started = std::time::Instant::now();
    let mut status = String::from("unknown");
    while started.elapsed() < request.timeout {
        if let Some((current, endpoint)) = restorer.database(request.kind, request.target).await? {
            if let ("available", Some(endpoint)) = (current.as_str(), endpoint) {
                return Ok(Restored {
                    snapshot_id,
                    target: request.target.to_owned(),
                    endpoint,
                    rpo_ms,
                });
            }
            status = current;
        }
        sleep(request.poll).await;
    }
    Err(RestoreError::Timeout {
        target: request.target.to_owned(),
        waited: request.timeout,
        status,
    })
}
