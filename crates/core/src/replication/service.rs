//! The two Lambda use cases, free of Lambda types: capture-and-publish in primary, and
//! apply-a-batch in DR with SQS partial-batch semantics.

use std::borrow::Cow;
use std::collections::BTreeSet;

use crate::replication::apply::{apply, ApplyError, Outcome};
use crate::replication::arn::ArnRewrite;
use crate::replication::capture::{capture, parse_event, EventError};
use crate::replication::message::{Rejection, ReplicationMessage, SourceRef};
use crate::replication::ports::{ApplyLedger, CertificateRegistry, PortError, ReplicationBus};
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
    S: CertificateRegistry + Sync,
    B: ReplicationBus + Sync,
{
    let event = parse_event(event)?;
    let messages = capture(&event, primary, source, &now).await?;
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
    /// Messages refused at the boundary (poison: they will end in the DLQ).
    pub rejected: u64,
    /// Messages that failed for a transient reason.
    pub retried: u64,
    /// Messages not attempted because an earlier message of their FIFO group failed.
    pub held_back: u64,
    /// Replication lag of each applied message: now − source event time.
    pub lag_ms: Vec<EpochMillis>,
}

/// Apply a batch. A failed message fails every later message of its FIFO group in the
/// batch too (unprocessed), so a group's order survives the retry.
pub async fn apply_batch<R, L>(
    deliveries: &[Delivery<'_>],
    rewrite: &ArnRewrite,
    dr: &R,
    ledger: &L,
    now: impl Fn() -> EpochMillis,
) -> BatchReport
where
    R: CertificateRegistry + Sync,
    L: ApplyLedger + Sync,
{
    let mut report = BatchReport::default();
    let mut failed_groups = BTreeSet::new();
    for delivery in deliveries {
        if delivery.group.is_some_and(|g| failed_groups.contains(g)) {
            report.held_back += 1;
            report.failed.push(delivery.message_id.to_owned());
            continue;
        }
        let failure = match ReplicationMessage::decode(&unwrap_sns(delivery.body)) {
            Err(rejection) => Some(Failure::Rejected(rejection)),
            Ok(message) => match apply(&message, rewrite, dr, ledger).await {
                Ok(Outcome::Stale) => {
                    report.stale += 1;
                    tracing::info!(
                        subject = %message.subject.key(),
                        certificate_id = message.subject.certificate_id().map(|c| c.as_str()),
                        version = %message.version(),
                        "skipped: DR already has this or a newer version"
                    );
                    None
                }
                Ok(Outcome::Applied { changes }) => {
                    let lag = now() - message.event_time_ms;
                    report.applied += 1;
                    report.lag_ms.push(lag);
                    tracing::info!(
                        subject = %message.subject.key(),
                        certificate_id = message.subject.certificate_id().map(|c| c.as_str()),
                        cause = %message.cause,
                        lag_ms = lag,
                        changes = ?changes,
                        "applied"
                    );
                    None
                }
                Err(error) => Some(Failure::Apply(error)),
            },
        };
        if let Some(failure) = failure {
            match &failure {
                Failure::Rejected(reason) => {
                    report.rejected += 1;
                    tracing::error!(message_id = delivery.message_id, reason = %reason, "rejected poison message; it will reach the DLQ");
                }
                Failure::Apply(error) if error.retryable() => {
                    report.retried += 1;
                    tracing::warn!(message_id = delivery.message_id, error = %error, "transient failure; SQS will redeliver");
                }
                Failure::Apply(error) => {
                    report.rejected += 1;
                    tracing::error!(message_id = delivery.message_id, error = %error, "cannot apply; it will reach the DLQ");
                }
            }
            if let Some(group) = delivery.group {
                failed_groups.insert(group.to_owned());
            }
            report.failed.push(delivery.message_id.to_owned());
        }
    }
    report
}

enum Failure {
    Rejected(Rejection),
    Apply(ApplyError),
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
