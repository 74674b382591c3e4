//! [`ApplyLedger`] on a DynamoDB table: one item per subject key, written only forwards.
//!
//! Item: `subject` (partition key, S), `version` (S, [`Version::encode`], whose string order
//! is version order), `revoked` (BOOL, sticky), `deleted` (BOOL, the newest version is a
//! deletion), `updated_at` (N, epoch ms), and for a shadow `shadow_base` (S, the JSON of the
//! source's state DR last applied: the base of the next three-way merge; a shadow's state is
//! at most 8 KB, well inside an item's 400 KB).

use dr_core::port::PortError;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use dr_core::replication::ports::{ApplyLedger, LedgerEntry, Recorded};
use dr_core::replication::Version;

use crate::error::{code, port_error};
use crate::names::LEDGER_TABLE_KEY;

/// The ledger table.
#[derive(Debug)]
pub struct DynamoLedger {
    client: Client,
    table: String,
    calls: AtomicU64,
}

impl DynamoLedger {
    /// The ledger in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            calls: AtomicU64::new(0),
        }
    }

    /// How many DynamoDB calls this ledger has made.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

impl ApplyLedger for DynamoLedger {
    async fn entry(&self, key: &str) -> Result<Option<LedgerEntry>, PortError> {
        self.count();
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(LEDGER_TABLE_KEY, AttributeValue::S(key.to_owned()))
            // The FIFO order only helps if we read what the previous message wrote.
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("GetItem", e))?;
        let Some(item) = output.item() else {
            return Ok(None);
        };
        // An item without a version records no applied version. Our writes set the version
        // in the same UpdateItem that creates the item, so only a non-atomic emulator shows
        // one: the sandbox's UpdateItem creates the key first and applies the SETs after,
        // and a concurrent read (a certificate's thing-tombstone check while the thing's
        // own message is recorded) saw it and failed the message for nothing.
        let Some(version) = item.get("version") else {
            return Ok(None);
        };
        let version = version
            .as_s()
            .ok()
            .and_then(|v| Version::decode(v))
            .ok_or_else(|| {
                PortError::permanent("GetItem", format!("ledger item {key} has no valid version"))
            })?;
        let revoked = item
            .get("revoked")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false);
        let deleted = item
            .get("deleted")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false);
        let shadow_base = match item.get("shadow_base") {
            None => None,
            Some(base) => Some(
                base.as_s()
                    .ok()
                    .and_then(|json| serde_json::from_str(json).ok())
                    .ok_or_else(|| {
                        PortError::permanent(
                            "GetItem",
                            format!("ledger item {key} has an unreadable shadow_base"),
                        )
                    })?,
            ),
        };
        Ok(Some(LedgerEntry {
            version,
            revoked,
            deleted,
            shadow_base,
        }))
    }

    async fn record(&self, key: &str, entry: LedgerEntry) -> Result<Recorded, PortError> {
        // `revoked` is or-ed in: set when true, otherwise left as stored (false if new).
        // DynamoDB refuses unused expression values, so bind only the one the update uses.
        let (revoked_update, flag, value) = if entry.revoked {
            ("revoked = :true", ":true", true)
        } else {
            ("revoked = if_not_exists(revoked, :false)", ":false", false)
        };
        // The base goes with the version it belongs to, in the same conditional write.
        let base = match &entry.shadow_base {
            Some(state) => Some(serde_json::to_string(state).map_err(|e| {
                PortError::permanent("UpdateItem", format!("shadow base of {key}: {e}"))
            })?),
            None => None,
        };
        let base_update = if base.is_some() {
            ", shadow_base = :base"
        } else {
            " REMOVE shadow_base"
        };
        self.count();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(LEDGER_TABLE_KEY, AttributeValue::S(key.to_owned()))
            .update_expression(format!(
                "SET version = :v, deleted = :deleted, updated_at = :now, {revoked_update}{base_update}"
            ))
            .set_expression_attribute_values(base.map(|json| {
                std::collections::HashMap::from([(":base".to_owned(), AttributeValue::S(json))])
            }))
            .condition_expression("attribute_not_exists(version) OR version < :v")
            .expression_attribute_values(":v", AttributeValue::S(entry.version.encode()))
            .expression_attribute_values(
                ":now",
                AttributeValue::N(dr_core::time::now_millis().to_string()),
            )
            .expression_attribute_values(flag, AttributeValue::Bool(value))
            .expression_attribute_values(":deleted", AttributeValue::Bool(entry.deleted))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Recorded::Recorded),
            Err(e) if code(&e) == Some("ConditionalCheckFailedException") => {
                Ok(Recorded::NewerExists)
            }
            Err(e) => Err(port_error("UpdateItem", e)),
        }
    }
}
