//! [`CheckpointStore`] on the ledger's DynamoDB table: one item per reconcile direction.
//!
//! Item: `subject` = `reconcile-cursor#<direction>` (no replication subject starts so),
//! `cursor` (S, the [`PassCursor`] as JSON), `checkpoint_version` (N, the fence),
//! `updated_at` (N, epoch ms). A save is conditional on the version it read, so of two
//! reconcilers walking the same pass only the first to save goes on.

use aws_sdk_dynamodb::Client;
use dr_core::port::PortError;
use dr_core::reconcile::{Checkpoint, CheckpointStore, PassCursor};

use crate::names::LEDGER_TABLE_KEY;
use crate::versioned::VersionedItem;

/// The checkpoint of one reconcile direction.
#[derive(Debug, Clone)]
pub struct DynamoCheckpoint(VersionedItem);

impl DynamoCheckpoint {
    /// The checkpoint for `direction` (e.g. `primary-to-dr`) in `table`.
    pub fn new(client: Client, table: impl Into<String>, direction: &str) -> Self {
        Self(VersionedItem {
            client,
            table: table.into(),
            key: (LEDGER_TABLE_KEY, format!("reconcile-cursor#{direction}")),
            document: "cursor",
            version: "checkpoint_version",
        })
    }
}

impl CheckpointStore for DynamoCheckpoint {
    async fn load(&self) -> Result<Option<Checkpoint>, PortError> {
        Ok(self
            .0
            .load()
            .await?
            .map(|(cursor, version)| Checkpoint { cursor, version }))
    }

    async fn save(&self, cursor: &PassCursor, expected: u64) -> Result<bool, PortError> {
        self.0.save(cursor, expected, Vec::new()).await
    }
}
