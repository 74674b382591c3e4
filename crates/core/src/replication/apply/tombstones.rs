//! Deleted stays deleted: the ledger's tombstones, read from the point of view of the
//! message being applied.

use super::ApplyError;
use crate::ids::ThingGroupName;
use crate::replication::message::Subject;
use crate::replication::ports::ApplyLedger;
use crate::time::EpochMillis;

/// The ledger's deletions, seen from a message read at `observed_ms`.
pub(super) struct Tombstones<'a, L> {
    pub(super) observed_ms: EpochMillis,
    pub(super) ledger: &'a L,
}

impl<L: ApplyLedger + Sync> Tombstones<'_, L> {
    /// Whether DR applied the group's deletion after the message was read.
    pub(super) async fn group_deleted_since(
        &self,
        group: &ThingGroupName,
    ) -> Result<bool, ApplyError> {
        let key = Subject::ThingGroupDeleted {
            group_name: group.clone(),
        }
        .key();
        let entry = self.ledger.entry(&key).await.map_err(ApplyError::Ledger)?;
        Ok(entry.is_some_and(|t| t.deleted && t.version.observed_ms > self.observed_ms))
    }
}
