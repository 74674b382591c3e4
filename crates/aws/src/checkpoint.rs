//! [`CheckpointStore`] on the ledger's DynamoDB table: one item per reconcile direction.
//!
//! Item: `subject` = `reconcile-cursor#<direction>` (no replication subject starts so),
//! `cursor` (S, the [`PassCursor`] as JSON), `checkpoint_version` (N, the fence),
//! `updated_at` (N, epoch ms). A save is conditional on the version it read, so of two
//! reconcilers walking the same pass only the first to save goes on.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use dr_core::reconcile::{Checkpoint, CheckpointStore, PassCursor};
use dr_core::replication::ports::PortError;

use crate::error::{code, port_error};

/// The checkpoint of one reconcile direction.
#[derive(Debug, Clone)]
pub struct DynamoCheckpoint {
    client: Client,
    table: String,
    key: String,
}

impl DynamoCheckpoint {
    /// The checkpoint for `direction` (e.g. `primary-to-dr`) in `table`.
    pub fn new(client: Client, table: impl Into<String>, direction: &str) -> Self {
        Self {
            client,
            table: table.into(),
            key: format!("reconcile-cursor#{direction}"),
        }
    }
}

impl CheckpointStore for DynamoCheckpoint {
    async fn load(&self) -> Result<Option<Checkpoint>, PortError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("subject", AttributeValue::S(self.key.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("GetItem", e))?;
        let Some(item) = output.item() else {
            return Ok(None);
        };
        let unreadable = |what: &str| {
            PortError::permanent(
                "GetItem",
                format!(
                    "checkpoint {} has no valid {what}; delete the item to start a new pass",
                    self.key
                ),
            )
        };
        let version = item
            .get("checkpoint_version")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| unreadable("checkpoint_version"))?;
        let cursor = item
            .get("cursor")
            .and_then(|v| v.as_s().ok())
            .and_then(|v| serde_json::from_str(v).ok())
            .ok_or_else(|| unreadable("cursor"))?;
        Ok(Some(Checkpoint { cursor, version }))
    }

    async fn save(&self, cursor: &PassCursor, expected: u64) -> Result<bool, PortError> {
        let json = serde_json::to_string(cursor)
            .map_err(|e| PortError::permanent("PutItem", e.to_string()))?;
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("subject", AttributeValue::S(self.key.clone()))
            .item("cursor", AttributeValue::S(json))
            .item(
                "checkpoint_version",
                AttributeValue::N((expected + 1).to_string()),
            )
            .item(
                "updated_at",
                AttributeValue::N(dr_core::time::now_millis().to_string()),
            );
        let request = if expected == 0 {
            request.condition_expression("attribute_not_exists(subject)")
        } else {
            request
                .condition_expression("checkpoint_version = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()))
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if code(&e) == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(port_error("PutItem", e)),
        }
    }
}
