//! The failover state table in DR (DynamoDB): the state item, fenced by its version, and
//! one audit item per runbook.

use aws_sdk_dynamodb::types::AttributeValue;
use dr_core::failover::{AuditEntry, FailoverRecord, StateStore, Stored};
use dr_core::port::PortError;
use dr_core::{Side, Topology};

use crate::error::port_error;
use crate::names::STATE_TABLE_KEY;
use crate::versioned::VersionedItem;
use crate::AwsSession;

/// The key of the state item; audit items are `audit#<runbook id>`.
const STATE_KEY: &str = "state";

/// The failover state table: `id` (S) partition key; the state item is fenced by its
/// version, audit items are written once per runbook.
#[derive(Debug, Clone)]
pub struct DynamoStateStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    state: VersionedItem,
}

impl DynamoStateStore {
    /// The state store in DR.
    pub fn new(session: &AwsSession, topology: &Topology) -> Self {
        let client = session.dynamodb(Side::Dr);
        let table = topology.failover.state_table.to_string();
        Self {
            state: VersionedItem {
                client: client.clone(),
                table: table.clone(),
                key: (STATE_TABLE_KEY, STATE_KEY.to_owned()),
                document: "record",
                version: "version",
            },
            client,
            table,
        }
    }

    /// The audit entries, newest first (for `drctl status` and tests).
    pub async fn audit_entries(&self) -> Result<Vec<AuditEntry>, PortError> {
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(id, :audit)")
                .expression_attribute_values(":audit", AttributeValue::S("audit#".to_owned()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| port_error("Scan", e))?;
            for item in page.items() {
                if let Some(entry) = item
                    .get("entry")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|s| serde_json::from_str::<AuditEntry>(s).ok())
                {
                    entries.push(entry);
                }
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.runbook.started_ms));
        Ok(entries)
    }
}

impl StateStore for DynamoStateStore {
    async fn load(&self) -> Result<Option<Stored>, PortError> {
        Ok(self
            .state
            .load()
            .await?
            .map(|(record, version)| Stored { record, version }))
    }

    async fn save(&self, record: &FailoverRecord, expected: u64) -> Result<bool, PortError> {
        // The mode in its own attribute, for a person reading the table.
        let mode = AttributeValue::S(record.state.mode.to_string());
        self.state
            .save(record, expected, vec![("mode", mode)])
            .await
    }

    async fn audit(&self, entry: &AuditEntry) -> Result<(), PortError> {
        let json = serde_json::to_string(entry)
            .map_err(|e| PortError::permanent("PutItem", e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item(
                STATE_TABLE_KEY,
                AttributeValue::S(format!("audit#{}", entry.runbook.id)),
            )
            .item("entry", AttributeValue::S(json))
            .item(
                "kind",
                AttributeValue::S(format!("{:?}", entry.runbook.kind)),
            )
            .item(
                "written_at",
                AttributeValue::N(entry.written_ms.to_string()),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| port_error("PutItem", e))
    }
}
