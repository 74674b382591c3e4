//! The two Lambda use cases, free of Lambda types: capture-and-publish in primary, and
//! apply-a-batch in DR with SQS partial-batch semantics.

use crate::port::PortError;
use std::borrow::Cow;
use std::collections::BTreeMap;

use futures_util::StreamExt;

use crate::replication::apply::{apply, ApplyError, Change, Outcome};
use crate::replication::arn::ArnRewrite;
use crate::replication::capture::{capture, parse_event, EventError};
use crate::replication::message::{Rejection, ReplicationMessage, SourceRef};
use crate::replication::ports::{ApplyLedger, DeviceRegistry, ReplicationBus};
use crate::time::EpochMillis;

/// Why a capture invocation failed. Lambda's async retries and the capture DLQ take it
/// from there; the reconciler repairs anything that still slipped through.
#[derive(Debug, thiserror::Error)]
pub enum CaptureFailure {
    /// The event is not one capture understands.
    #[error(transparent)]
    Event(#[from] EventError),
    /// Reading primary or publishing failed.
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Parse one event, read the state it points at, publish one message per subject.
/// Returns the messages published.
pub async fn capture_and_publish<S, B>(
    event: &serde_json::Value,
    primary: &S,
    bus: &B,
    source: &SourceRef,
    now: impl Fn() -> EpochMillis,
) -> Result<Vec<ReplicationMessage>, CaptureFailure>
where
    S: DeviceRegistry + Sync,
    B: ReplicationBus + Sync,
{
    let event = parse_event(event)?;
    // Boxed: capture's future nests many awaits deep (the reads of every subject kind and the
    // wait for a detachment); unboxed, the Lambda's main future is too deep for rustc to lay
    // out ("queries overflow the depth limit").
    let messages = Box::pin(capture(&event, primary, source, &now)).await?;
    for message in &messages {
        bus.publish(message).await?;
        tracing::info!(
            cause = %message.cause,
            subject = %message.subject.key(),
            kind = message.subject.kind(),
            version = %message.version(),
            "published state message"
        );
    }
    Ok(messages)
}

/// One SQS record, as the event source mapping delivers it.
#[derive(Debug, Clone)]
pub struct Delivery<'a> {
    /// The SQS message id (reported back on failure).
    pub message_id: &'a str,
    /// The FIFO message group, if any.
    pub group: Option<&'a str>,
    /// The body: our message, raw or inside an SNS notification envelope.
    pub body: &'a str,
}

/// What a batch did, for the response, the logs and the metrics.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    /// Message ids to report as batch item failures (they will be retried, then DLQ'd).
    pub failed: Vec<String>,
    /// Messages applied.
    pub applied: u64,
    /// Messages older than what DR already had.
    pub stale: u64,
    /// Messages refused: at the boundary or as unappliable (poison, parked) and by DR
    /// (retried by SQS, then dead-lettered).
    pub rejected: u64,
    /// Messages that failed for a transient reason.
    pub retried: u64,
    /// Messages not attempted because an earlier message of their FIFO group failed.
    pub held_back: u64,
    /// Replication lag of each applied message: now − source event time.
    pub lag_ms: Vec<EpochMillis>,
    /// Certificates registered in DR without a CA (devices need SNI to use them there).
    pub registered_without_ca: u64,
    /// The failed messages that no retry can cure (refused at the boundary, or impossible
    /// to apply whatever DR's state), with the reason: [`park_poison`] moves them to the
    /// DLQ at once. A DR call refused for good is not among them: an IAM or configuration
    /// fix may still let it through, so SQS retries it before the redrive.
    pub poison: Vec<PoisonMessage>,
    /// Poison messages moved to the DLQ by [`park_poison`] (no longer in `failed`).
    pub parked: u64,
}

impl crate::report::Report for BatchReport {
    fn sections(&self) -> Vec<crate::report::Section> {
        use crate::report::{Figure, Section};
        let lag_max = self.lag_ms.iter().copied().max().unwrap_or_default();
        vec![Section::top()
            .figure(Figure::count("Applied", self.applied))
            .figure(Figure::count("SkippedStale", self.stale))
            .figure(Figure::count("Rejected", self.rejected))
            .figure(Figure::count("Parked", self.parked))
            .figure(Figure::count("Retried", self.retried + self.held_back))
            .figure(Figure::count(
                "RegisteredWithoutCa",
                self.registered_without_ca,
            ))
            .figure(Figure::millis("LagMax", lag_max as f64))]
    }
}

/// A message that can never be applied as it is, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoisonMessage {
    /// The SQS message id.
    pub message_id: String,
    /// Why: the boundary's rejection, or why the message cannot apply whatever DR's state.
    pub reason: String,
    /// The body carries a private key: it is parked without it (see [`withheld_body`]).
    pub withhold_body: bool,
}

/// The dead-letter queue, as the replicator writes it: a poison message goes there at
/// once, with its reason, instead of being received four more times first.
pub trait DeadLetterSink {
    /// Put `delivery` (its body and group) in the DLQ with `reason`.
    fn park(
        &self,
        delivery: &Delivery<'_>,
        reason: &str,
    ) -> impl std::future::Future<Output = Result<(), PortError>> + Send;
}

/// Move the batch's poison messages to the DLQ with their reasons, and stop reporting them
/// as failed (so SQS deletes them). A message that cannot be parked stays failed: SQS
/// retries it and its redrive policy still dead-letters it, only without the reason.
/// Messages held back behind a poison message stay failed and are retried after it.
pub async fn park_poison<D>(report: &mut BatchReport, deliveries: &[Delivery<'_>], sink: &D)
where
    D: DeadLetterSink + Sync,
{
    for poison in &report.poison {
        let Some(delivery) = deliveries
            .iter()
            .find(|d| d.message_id == poison.message_id)
        else {
            continue;
        };
        let withheld;
        let delivery = if poison.withhold_body {
            withheld = withheld_body(delivery.body);
            &Delivery {
                body: &withheld,
                ..*delivery
            }
        } else {
            delivery
        };
        match sink.park(delivery, &poison.reason).await {
            Ok(()) => {
                report.failed.retain(|id| id != &poison.message_id);
                report.parked += 1;
                tracing::warn!(message_id = %poison.message_id, group = delivery.group, reason = %poison.reason, "moved to the DLQ with its reason");
            }
            Err(error) => {
                tracing::warn!(message_id = %poison.message_id, error = %error, "could not move to the DLQ; SQS will retry it and redrive it there");
            }
        }
    }
}

/// What is parked instead of a body that carries a private key: a key that leaked into a
/// message must not be kept for the DLQ's fourteen days, nor shown by `drctl dlq`. The
/// digest and size still tie the dead letter to the capture side's logs. Parking deletes the
/// original from the replication queue; only a message that cannot be parked keeps its body
/// (SQS's redrive moves it as it is).
pub fn withheld_body(body: &str) -> String {
    use sha2::{Digest, Sha256};
    serde_json::json!({
        "withheld": "the message carried a private key; its body was not kept",
        "body_sha256": hex::encode(Sha256::digest(body.as_bytes())),
        "body_bytes": body.len(),
    })
    .to_string()
}

/// How many subjects (FIFO groups) of one batch are applied at once. A FIFO batch holds at
/// most ten messages; the bound keeps a standard queue's large batch from opening
/// thousands of connections to DR.
pub const MAX_CONCURRENT_SUBJECTS: usize = 10;

/// Apply a batch. Messages of one FIFO group are applied in order, and a failed message
/// fails every later message of its group in the batch too (unprocessed), so the group's
/// order survives the retry. Different groups are applied concurrently: SQS FIFO promises
/// no order between groups, and concurrent Lambda invocations already apply different
/// groups at once, so this adds no outcome they could not already produce — it lets one
/// invocation keep DR's paced registrations busy instead of waiting on each message's calls
/// in turn. (The one cross-group read: a certificate's thing checks the thing's tombstone,
/// which a concurrent deletion may write just after it was read — as between invocations.)
pub async fn apply_batch<R, L>(
    deliveries: &[Delivery<'_>],
    rewrite: &ArnRewrite,
    dr: &R,
    ledger: &L,
    now: impl Fn() -> EpochMillis,
) -> BatchReport
where
    R: DeviceRegistry + Sync,
    L: ApplyLedger + Sync,
{
    let now = &now;
    let chains = group_chains(deliveries);
    let mut handled: Vec<(usize, Handled)> = futures_util::stream::iter(chains)
        .map(|chain| async move {
            let mut results = Vec::with_capacity(chain.len());
            let mut failed = false;
            for index in chain {
                let result = if failed {
                    Handled::HeldBack
                } else {
                    apply_one(&deliveries[index], rewrite, dr, ledger, now).await
                };
                failed |= result.fails_the_group();
                results.push((index, result));
            }
            results
        })
        .buffer_unordered(MAX_CONCURRENT_SUBJECTS)
        .flat_map(futures_util::stream::iter)
        .collect()
        .await;
    // The report lists failures in delivery order, whatever order the groups finished in.
    handled.sort_by_key(|(index, _)| *index);

    let mut report = BatchReport::default();
    for (index, result) in handled {
        match result {
            Handled::Applied { lag_ms, without_ca } => {
                report.applied += 1;
                report.lag_ms.push(lag_ms);
                report.registered_without_ca += u64::from(without_ca);
                continue;
            }
            Handled::Stale => {
                report.stale += 1;
                continue;
            }
            Handled::HeldBack => report.held_back += 1,
            Handled::Transient => report.retried += 1,
            Handled::Refused => report.rejected += 1,
            Handled::Poison {
                reason,
                withhold_body,
            } => {
                report.rejected += 1;
                report.poison.push(PoisonMessage {
                    message_id: deliveries[index].message_id.to_owned(),
                    reason,
                    withhold_body,
                });
            }
        }
        report.failed.push(deliveries[index].message_id.to_owned());
    }
    report
}

/// The batch split into per-group chains of delivery indexes, each in delivery order.
/// A message without a group (a standard queue) is a chain of its own.
fn group_chains(deliveries: &[Delivery<'_>]) -> Vec<Vec<usize>> {
    let mut chains: Vec<Vec<usize>> = Vec::new();
    let mut chain_of_group: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, delivery) in deliveries.iter().enumerate() {
        match delivery.group {
            Some(group) => match chain_of_group.get(group) {
                Some(&chain) => chains[chain].push(index),
                None => {
                    chain_of_group.insert(group, chains.len());
                    chains.push(vec![index]);
                }
            },
            None => chains.push(vec![index]),
        }
    }
    chains
}

/// What became of one delivery.
enum Handled {
    Applied {
        lag_ms: EpochMillis,
        without_ca: bool,
    },
    Stale,
    /// Not attempted: an earlier message of its group failed.
    HeldBack,
    /// Failed for a reason a retry can cure.
    Transient,
    /// Refused at the boundary or unappliable whatever DR's state, and why: parked
    /// (without its body if that carries a private key).
    Poison {
        reason: String,
        withhold_body: bool,
    },
    /// Refused by DR with a non-retryable error: retried by SQS, then dead-lettered.
    Refused,
}

impl Handled {
    fn fails_the_group(&self) -> bool {
        matches!(
            self,
            Self::HeldBack | Self::Transient | Self::Poison { .. } | Self::Refused
        )
    }
}

/// Decode and apply one delivery, logging what happened to it.
async fn apply_one<R, L>(
    delivery: &Delivery<'_>,
    rewrite: &ArnRewrite,
    dr: &R,
    ledger: &L,
    now: &impl Fn() -> EpochMillis,
) -> Handled
where
    R: DeviceRegistry + Sync,
    L: ApplyLedger + Sync,
{
    let message = match decode_delivery(delivery.body) {
        Ok(message) => message,
        Err(reason) => {
            tracing::error!(message_id = delivery.message_id, reason = %reason, "rejected poison message; it will reach the DLQ");
            return Handled::Poison {
                withhold_body: reason.may_carry_a_private_key(delivery.body),
                reason: format!("refused: {reason}"),
            };
        }
    };
    let subject = message.subject.key();
    let certificate_id = message.subject.certificate_id().map(|c| c.as_str());
    match apply(&message, rewrite, dr, ledger).await {
        Ok(Outcome::Stale) => {
            tracing::info!(
                subject = %subject,
                certificate_id,
                version = %message.version(),
                "skipped: DR already has this or a newer version"
            );
            Handled::Stale
        }
        Ok(Outcome::Applied { changes }) => {
            let lag_ms = now() - message.event_time_ms;
            tracing::info!(
                subject = %subject,
                certificate_id,
                cause = %message.cause,
                lag_ms,
                changes = ?changes,
                "applied"
            );
            let without_ca = changes.iter().find_map(|change| match change {
                Change::RegisteredWithoutCa { missing_ca } => Some(missing_ca),
                _ => None,
            });
            match without_ca {
                Some(Some(ca)) => tracing::warn!(
                    certificate_id,
                    ca_certificate_id = %ca,
                    "registered without its CA: DR does not have CA {ca}; register it in DR (drctl readiness checks) — until then the device must send SNI to connect in DR"
                ),
                Some(None) => tracing::info!(
                    certificate_id,
                    "registered without a CA: the device must send SNI (the endpoint's name) to connect in DR"
                ),
                None => {}
            }
            Handled::Applied {
                lag_ms,
                without_ca: without_ca.is_some(),
            }
        }
        Err(error) if error.retryable() => {
            tracing::warn!(message_id = delivery.message_id, error = %error, "transient failure; SQS will redeliver");
            Handled::Transient
        }
        // The message itself cannot be applied, however often it is tried.
        Err(error @ ApplyError::Invalid(_)) => {
            tracing::error!(message_id = delivery.message_id, error = %error, "cannot apply; it will reach the DLQ");
            Handled::Poison {
                reason: error.to_string(),
                withhold_body: false,
            }
        }
        // DR said no (access denied, a validation error, a credentials failure): the
        // environment may be what is wrong, so SQS's receives give it time to be fixed
        // before the redrive dead-letters the message.
        Err(error) => {
            tracing::error!(message_id = delivery.message_id, error = %error, "DR refused it; SQS will retry, then dead-letter it");
            Handled::Refused
        }
    }
}

/// The replicator's boundary: an SQS body decoded and checked as a state message, whether
/// SNS delivered it raw or in a notification envelope. The DLQ listing decodes dead letters
/// with this too, so it refuses exactly what the replicator refused.
pub fn decode_delivery(body: &str) -> Result<ReplicationMessage, Rejection> {
    ReplicationMessage::decode(&unwrap_sns(body))
}

/// With raw message delivery the body is our message; without, SNS wraps it in a
/// notification envelope whose `Message` holds it. Accept both.
fn unwrap_sns(body: &str) -> Cow<'_, str> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        #[serde(rename = "Type")]
        kind: String,
        #[serde(rename = "Message")]
        message: String,
    }
    // Our own messages never carry a `Type` field: skip the second parse for them.
    if !body.contains("\"Type\"") {
        return Cow::Borrowed(body);
    }
    match serde_json::from_str::<Envelope>(body) {
        Ok(envelope) if envelope.kind == "Notification" => Cow::Owned(envelope.message),
        _ => Cow::Borrowed(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sns_envelopes_are_unwrapped_and_raw_bodies_pass_through() {
        let raw = r#"{"schema_version":1}"#;
        assert_eq!(unwrap_sns(raw), raw);
        let wrapped = serde_json::json!({"Type": "Notification", "MessageId": "m", "Message": raw})
            .to_string();
        assert_eq!(unwrap_sns(&wrapped), raw);
    }
}
