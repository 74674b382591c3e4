//! One controller tick: observe, decide, act. The store is the only I/O.

use crate::port::PortError;
use std::future::Future;

use super::decide::{decide, Action, Plan};
use super::{Location, Snapshot, SnapshotPolicy};
use crate::time::EpochMillis;

/// RDS as the snapshot controller needs it, across primary's and DR's accounts and regions.
/// Every write is idempotent: "already exists" and "not found" are success.
pub trait SnapshotStore {
    /// Every snapshot of `database` in the three locations, with tags and sharing.
    fn observe(
        &self,
        database: &str,
    ) -> impl Future<Output = Result<Vec<Snapshot>, PortError>> + Send;
    /// Snapshot the database in primary.
    fn create_source(
        &self,
        database: &str,
        snapshot_id: &str,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Copy `source_arn` into `location` as `target_id`, encrypted with `kms_key`.
    fn copy(
        &self,
        location: Location,
        source_arn: &str,
        target_id: &str,
        kms_key: &str,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Add `account` to the regional copy's `restore` attribute.
    fn share(
        &self,
        snapshot_id: &str,
        account: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Delete a snapshot.
    fn delete(
        &self,
        location: Location,
        snapshot_id: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// What a tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// The plan the tick followed.
    pub plan: Plan,
    /// Actions carried out.
    pub done: Vec<Action>,
    /// Actions that failed, with the reason. The next tick retries them.
    pub failed: Vec<(Action, PortError)>,
}

/// Run one tick for one database. Observation failing fails the tick; a failed action
/// is reported and the rest still run (a share failing must not stop retention pruning).
pub async fn tick<S: SnapshotStore + Sync>(
    store: &S,
    policy: &SnapshotPolicy,
    now: EpochMillis,
) -> Result<TickReport, PortError> {
    let observed = store.observe(&policy.database).await?;
    let plan = decide(now, policy, &observed);
    let mut report = TickReport {
        plan: plan.clone(),
        ..TickReport::default()
    };
    for action in plan.actions {
        let result = match &action {
            Action::CreateSource { snapshot_id, tags } => {
                store
                    .create_source(&policy.database, snapshot_id, &pairs(tags))
                    .await
            }
            Action::CopyToRegional {
                source_arn,
                target_id,
                kms_key,
                tags,
            } => {
                store
                    .copy(
                        Location::Regional,
                        source_arn,
                        target_id,
                        kms_key,
                        &pairs(tags),
                    )
                    .await
            }
            Action::ShareWithDr {
                snapshot_id,
                account,
            } => store.share(snapshot_id, account).await,
            Action::CopyToDr {
                source_arn,
                target_id,
                kms_key,
                tags,
            } => {
                store
                    .copy(Location::Dr, source_arn, target_id, kms_key, &pairs(tags))
                    .await
            }
            Action::Delete {
                location,
                snapshot_id,
                ..
            } => store.delete(*location, snapshot_id).await,
        };
        match result {
            Ok(()) => report.done.push(action),
            Err(error) => {
                tracing::warn!(database = %policy.database, ?action, %error, "snapshot action failed; the next tick retries");
                report.failed.push((action, error));
            }
        }
    }
    Ok(report)
}

fn pairs(tags: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}
