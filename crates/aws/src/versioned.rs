//! One DynamoDB item holding a JSON document and a version that fences it: a save names the
//! version it read and lands only if nobody saved since. The reconciler's checkpoint and the
//! failover state are both kept this way.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use dr_core::port::PortError;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{code, port_error};

/// Where the item is and what its attributes are called.
#[derive(Debug, Clone)]
pub(crate) struct VersionedItem {
    pub(crate) client: Client,
    pub(crate) table: String,
    /// The partition key's attribute name and this item's key.
    pub(crate) key: (&'static str, String),
    /// The attribute holding the JSON document.
    pub(crate) document: &'static str,
    /// The attribute holding the version (a number).
    pub(crate) version: &'static str,
}

impl VersionedItem {
    /// The document and its version, if the item exists.
    pub(crate) async fn load<T: DeserializeOwned>(&self) -> Result<Option<(T, u64)>, PortError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(self.key.0, AttributeValue::S(self.key.1.clone()))
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
                    "item {} in {} has no valid {what}; fix or delete it",
                    self.key.1, self.table
                ),
            )
        };
        let version = item
            .get(self.version)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| unreadable(self.version))?;
        let document = item
            .get(self.document)
            .and_then(|v| v.as_s().ok())
            .and_then(|v| serde_json::from_str(v).ok())
            .ok_or_else(|| unreadable(self.document))?;
        Ok(Some((document, version)))
    }

    /// Save `document` as version `expected + 1` (with `extra` attributes for people
    /// reading the table) if the stored version is still `expected` (0: no item yet).
    /// `Ok(false)` when someone else saved first.
    pub(crate) async fn save<T: Serialize>(
        &self,
        document: &T,
        expected: u64,
        extra: Vec<(&'static str, AttributeValue)>,
    ) -> Result<bool, PortError> {
        let json = serde_json::to_string(document)
            .map_err(|e| PortError::permanent("PutItem", e.to_string()))?;
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(self.key.0, AttributeValue::S(self.key.1.clone()))
            .item(self.document, AttributeValue::S(json))
            .item(self.version, AttributeValue::N((expected + 1).to_string()))
            .item(
                "updated_at",
                AttributeValue::N(dr_core::time::now_millis().to_string()),
            );
        for (name, value) in extra {
            request = request.item(name, value);
        }
        let request = if expected == 0 {
            request.condition_expression(format!("attribute_not_exists({})", self.key.0))
        } else {
            request
                .condition_expression(format!("{} = :expected", self.version))
                .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()))
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if code(&e) == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(port_error("PutItem", e)),
        }
    }
}
