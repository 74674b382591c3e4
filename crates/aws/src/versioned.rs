//! One DynamoDB item holding a JSON document and a version that fences it: a save names the
//! version it read and lands only if nobody saved since. The reconciler's checkpoint and the
//! failover state are both kept this way.
//!
//! A save is idempotent: each writes a nonce of its own beside the version. When PutItem's
//! answer is lost (a connection dropped after DynamoDB wrote the item, the usual shape of a
//! regional event's network), the SDK retries it and the retry fails its own condition; the
//! item DynamoDB returns with that failure (`ReturnValuesOnConditionCheckFailure=ALL_OLD`)
//! then holds version `expected + 1` and our nonce, and the save is reported as landed —
//! not as "someone else saved first", which stopped the deciding round of a failover.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use dr_core::port::PortError;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::port_error;

/// The attribute holding the nonce of the save that wrote the item.
const NONCE: &str = "save_nonce";

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
        let nonce = nonce();
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(self.key.0, AttributeValue::S(self.key.1.clone()))
            .item(self.document, AttributeValue::S(json))
            .item(self.version, AttributeValue::N((expected + 1).to_string()))
            .item(NONCE, AttributeValue::S(nonce.clone()))
            .item(
                "updated_at",
                AttributeValue::N(dr_core::time::now_millis().to_string()),
            )
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
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
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    let landed = match failed.item() {
                        Some(item) => self.written_by(item, expected, &nonce),
                        // A DynamoDB that returned no item: read it.
                        None => self.stored_by(expected, &nonce).await?,
                    };
                    if landed {
                        tracing::info!(
                            table = %self.table,
                            key = %self.key.1,
                            version = expected + 1,
                            "a save's answer was lost and its retry failed its condition: the item holds our nonce, so the save landed"
                        );
                    }
                    Ok(landed)
                }
                _ => Err(port_error("PutItem", e)),
            },
        }
    }

    /// Whether `item` is the one our save (`nonce`) wrote as version `expected + 1`.
    fn written_by(
        &self,
        item: &HashMap<String, AttributeValue>,
        expected: u64,
        nonce: &str,
    ) -> bool {
        let version = item
            .get(self.version)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let ours = item.get(NONCE).and_then(|v| v.as_s().ok());
        version == Some(expected + 1) && ours.is_some_and(|n| n == nonce)
    }

    /// The same, read with a consistent GetItem.
    async fn stored_by(&self, expected: u64, nonce: &str) -> Result<bool, PortError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(self.key.0, AttributeValue::S(self.key.1.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("GetItem", e))?;
        Ok(output
            .item()
            .is_some_and(|item| self.written_by(item, expected, nonce)))
    }
}

/// A nonce no other save writes: 128 bits as hex. Unique, not secret: the keys of std's
/// `RandomState` (seeded from the OS per process and thread) mixed with the time and a
/// counter, so two Lambda containers, two threads or two saves in one never share one.
fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let half = |salt: u64| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(salt);
        hasher.write_u64(count);
        hasher.write_u128(now);
        hasher.write_u32(std::process::id());
        hasher.finish()
    };
    format!("{:016x}{:016x}", half(0), half(1))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::retry::RetryConfig;

    use super::*;

    fn item(client: Client) -> VersionedItem {
        VersionedItem {
            client,
            table: "state".into(),
            key: ("id", "state".into()),
            document: "record",
            version: "version",
        }
    }

    /// DynamoDB's ConditionalCheckFailedException, with the stored item when `stored`.
    fn condition_failed(stored: Option<(u64, &str)>) -> HttpResponse {
        let mut body = serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
            "message": "The conditional request failed",
        });
        if let Some((version, nonce)) = stored {
            body["Item"] = serde_json::json!({
                "id": {"S": "state"},
                "version": {"N": version.to_string()},
                "save_nonce": {"S": nonce},
            });
        }
        let mut response =
            HttpResponse::new(400.try_into().unwrap(), SdkBody::from(body.to_string()));
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        response
    }

    /// A PutItem rule that fails its condition, answering with the item a save wrote as
    /// `version`: this save's own nonce when `ours`, another's otherwise.
    fn put_that_already_landed(version: u64, ours: bool) -> Rule {
        let sent = Arc::new(Mutex::new(String::new()));
        let seen = Arc::clone(&sent);
        mock!(Client::put_item)
            .match_requests(move |r| {
                let nonce = r
                    .item()
                    .and_then(|i| i.get(NONCE))
                    .and_then(|v| v.as_s().ok());
                *seen.lock().unwrap() = nonce.cloned().unwrap_or_default();
                r.return_values_on_condition_check_failure()
                    == Some(&ReturnValuesOnConditionCheckFailure::AllOld)
            })
            .then_http_response(move || {
                let nonce = sent.lock().unwrap().clone();
                let nonce = if ours {
                    nonce
                } else {
                    "someone-else".to_owned()
                };
                condition_failed(Some((version, &nonce)))
            })
    }

    fn client(rules: &[&Rule]) -> Client {
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, rules, |c| c
            .retry_config(RetryConfig::disabled()))
    }

    #[tokio::test]
    async fn a_retry_that_fails_its_condition_on_our_own_write_is_a_save_that_landed() {
        // Given a first attempt that wrote version 8 with our nonce, its answer lost
        let rule = put_that_already_landed(8, true);
        // When the retry fails its condition
        let saved = item(client(&[&rule])).save(&"doc", 7, Vec::new()).await;
        // Then the save landed
        assert!(saved.unwrap());
    }

    #[tokio::test]
    async fn another_saver_s_write_or_an_older_version_is_still_fenced() {
        let theirs = put_that_already_landed(8, false);
        assert!(!item(client(&[&theirs]))
            .save(&"doc", 7, Vec::new())
            .await
            .unwrap());
        let later = put_that_already_landed(9, true);
        assert!(
            !item(client(&[&later]))
                .save(&"doc", 7, Vec::new())
                .await
                .unwrap(),
            "version 9 is not the one this save wrote"
        );
    }

    #[tokio::test]
    async fn without_the_item_in_the_failure_a_consistent_read_decides() {
        // Given a DynamoDB that returns no item with the failure, and an item someone
        // else wrote
        let put = mock!(Client::put_item).then_http_response(|| condition_failed(None));
        let get = mock!(Client::get_item)
            .match_requests(|r| r.consistent_read() == Some(true))
            .then_output(|| {
                GetItemOutput::builder()
                    .item("version", AttributeValue::N("8".into()))
                    .item(NONCE, AttributeValue::S("someone-else".into()))
                    .build()
            });
        // Then the save is fenced
        assert!(!item(client(&[&put, &get]))
            .save(&"doc", 7, Vec::new())
            .await
            .unwrap());
    }

    #[test]
    fn nonces_differ_and_are_128_bits_of_hex() {
        let nonces: std::collections::BTreeSet<String> = (0..1_000).map(|_| nonce()).collect();
        assert_eq!(nonces.len(), 1_000);
        assert!(nonces
            .iter()
            .all(|n| n.len() == 32 && n.chars().all(|c| c.is_ascii_hexdigit())));
    }
}
