//! The replication dead-letter queue: the replicator parks poison messages there with their
//! reason; operators look at what is there (and why: the reason parked with it, or decoding
//! it again at the same boundary the replicator uses), and replay messages into the
//! replication queue once the cause is fixed. Replays are safe:
//! messages are state-based and the replicator's ledger skips anything stale.

use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use dr_core::port::PortError;
use dr_core::replication::service::{decode_delivery, DeadLetterSink, Delivery};
use dr_core::replication::{Lane, ReplicationMessage};
use dr_core::{Side, Topology};

use crate::error::port_error;
use crate::{names, AwsSession};

/// One dead-lettered message, described without its content (a PEM is not for a terminal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// SQS message id.
    pub message_id: String,
    /// The FIFO group: the subject (certificate, thing, policy) it is about.
    pub group: String,
    /// How often it was received, here and in the replication queue before.
    pub receive_count: u32,
    /// What it is (`certificate <id>`, …) or, if it cannot be decoded, why not.
    pub what: String,
    /// Whether the replicator's boundary refuses it (it will fail again if replayed as is).
    pub refused: bool,
}

/// The message attribute that carries why the replicator dead-lettered a message.
pub const REASON_ATTRIBUTE: &str = "dr.reason";
/// The message attribute that carries the message's id in the replication queue.
pub const SOURCE_MESSAGE_ID_ATTRIBUTE: &str = "dr.source-message-id";
/// SQS allows 256 KiB for body and attributes together; a reason is a line, not a dump.
const MAX_REASON_BYTES: usize = 1024;

/// The replicator's way into the DLQ: a poison message is sent there at once with its
/// reason (message attributes), in its own FIFO group, deduplicated by its original id. SQS
/// deduplicates for five minutes only, and a batch cut short after parking comes back after
/// the visibility timeout (six minutes in the stack): it may then be parked twice, which is
/// harmless — messages are state-based, a replay of both applies once.
#[derive(Debug, Clone)]
pub struct SqsDeadLetterSink {
    sqs: aws_sdk_sqs::Client,
    dlq_url: String,
}

impl SqsDeadLetterSink {
    /// DR's replication DLQ (one GetQueueUrl, at cold start).
    pub async fn connect(session: &AwsSession, topology: &Topology) -> Result<Self, PortError> {
        let sqs = session.sqs(Side::Dr);
        let dlq_url = sqs
            .get_queue_url()
            .queue_name(names::dead_letter_queue_name(topology))
            .send()
            .await
            .map_err(|e| port_error("GetQueueUrl", e))?
            .queue_url()
            .unwrap_or_default()
            .to_owned();
        Ok(Self { sqs, dlq_url })
    }
}

impl DeadLetterSink for SqsDeadLetterSink {
    async fn park(&self, delivery: &Delivery<'_>, reason: &str) -> Result<(), PortError> {
        let text = |value: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| PortError::permanent("SendMessage", e.to_string()))
        };
        self.sqs
            .send_message()
            .queue_url(&self.dlq_url)
            .message_body(delivery.body)
            .message_group_id(delivery.group.unwrap_or("ungrouped"))
            .message_deduplication_id(format!("parked-{}", delivery.message_id))
            .message_attributes(REASON_ATTRIBUTE, text(truncate(reason, MAX_REASON_BYTES))?)
            .message_attributes(SOURCE_MESSAGE_ID_ATTRIBUTE, text(delivery.message_id)?)
            .send()
            .await
            .map_err(|e| port_error("SendMessage", e))?;
        Ok(())
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A queue's approximate message counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueCounts {
    /// Waiting to be received.
    pub waiting: u64,
    /// Received, not yet deleted.
    pub in_flight: u64,
}

/// The replication queues (one per lane) and their shared DLQ.
#[derive(Debug, Clone)]
pub struct ReplicationDlq {
    sqs: aws_sdk_sqs::Client,
    registry_queue_url: String,
    shadow_queue_url: String,
    dlq_url: String,
}

/// Messages waiting and in flight on each lane and in the DLQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicationCounts {
    /// The registry lane's queue (certificates, revocations, things…).
    pub registry: QueueCounts,
    /// The shadow lane's queue.
    pub shadows: QueueCounts,
    /// The dead-letter queue both lanes share.
    pub dead_letters: QueueCounts,
}

impl ReplicationDlq {
    /// The DLQ of the topology's replication queue.
    pub async fn connect(session: &AwsSession, topology: &Topology) -> Result<Self, PortError> {
        let sqs = session.sqs(Side::Dr);
        let url = |name: String| {
            let sqs = sqs.clone();
            async move {
                sqs.get_queue_url()
                    .queue_name(&name)
                    .send()
                    .await
                    .map_err(|e| port_error("GetQueueUrl", e))
                    .map(|o| o.queue_url().unwrap_or_default().to_owned())
            }
        };
        Ok(Self {
            registry_queue_url: url(names::lane_queue_name(topology, Lane::Registry)).await?,
            shadow_queue_url: url(names::lane_queue_name(topology, Lane::Shadows)).await?,
            dlq_url: url(names::dead_letter_queue_name(topology)).await?,
            sqs,
        })
    }

    /// Up to `max` messages, left in the DLQ (they are made visible again at once).
    pub async fn list(&self, max: usize) -> Result<Vec<DeadLetter>, PortError> {
        let mut seen = Vec::new();
        let mut handles = Vec::new();
        while seen.len() < max {
            let batch = self.receive((max - seen.len()).min(10)).await?;
            if batch.is_empty() {
                break;
            }
            for message in batch {
                handles.push(message.receipt_handle().unwrap_or_default().to_owned());
                seen.push(describe(&message));
            }
        }
        for handle in handles {
            // Hidden only while we listed: visible again for the replay or the next look.
            let _ = self
                .sqs
                .change_message_visibility()
                .queue_url(&self.dlq_url)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await;
        }
        Ok(seen)
    }

    /// Move up to `max` messages back into their lane's queue, in their group's order;
    /// returns how many moved. A message is deleted from the DLQ only once it is sent. One
    /// that does not decode (it was dead-lettered for that) goes to the registry lane, whose
    /// replicator refuses it again with its reason.
    pub async fn replay(&self, max: usize) -> Result<usize, PortError> {
        let mut moved = 0;
        while moved < max {
            let batch = self.receive((max - moved).min(10)).await?;
            if batch.is_empty() {
                break;
            }
            for message in batch {
                let group = group_of(&message);
                let id = message.message_id().unwrap_or_default();
                let lane = ReplicationMessage::decode(message.body().unwrap_or_default())
                    .map_or(Lane::Registry, |decoded| decoded.subject.lane());
                let queue_url = match lane {
                    Lane::Registry => &self.registry_queue_url,
                    Lane::Shadows => &self.shadow_queue_url,
                };
                self.sqs
                    .send_message()
                    .queue_url(queue_url)
                    .message_body(message.body().unwrap_or_default())
                    .message_group_id(group)
                    // Replaying the same message twice within five minutes sends it once.
                    .message_deduplication_id(format!("replay-{id}"))
                    .send()
                    .await
                    .map_err(|e| port_error("SendMessage", e))?;
                self.sqs
                    .delete_message()
                    .queue_url(&self.dlq_url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .map_err(|e| port_error("DeleteMessage", e))?;
                moved += 1;
            }
        }
        Ok(moved)
    }

    /// How many messages wait in the DLQ.
    pub async fn depth(&self) -> Result<u64, PortError> {
        Ok(Self::counts(&self.sqs, &self.dlq_url).await?.waiting)
    }

    /// Messages waiting and in flight on each lane and in the DLQ.
    pub async fn counts_by_lane(&self) -> Result<ReplicationCounts, PortError> {
        Ok(ReplicationCounts {
            registry: Self::counts(&self.sqs, &self.registry_queue_url).await?,
            shadows: Self::counts(&self.sqs, &self.shadow_queue_url).await?,
            dead_letters: Self::counts(&self.sqs, &self.dlq_url).await?,
        })
    }

    async fn counts(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<QueueCounts, PortError> {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| port_error("GetQueueAttributes", e))?;
        let get = |name: QueueAttributeName| {
            attributes
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(QueueCounts {
            waiting: get(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        })
    }

    async fn receive(&self, max: usize) -> Result<Vec<aws_sdk_sqs::types::Message>, PortError> {
        let output = self
            .sqs
            .receive_message()
            .queue_url(&self.dlq_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(60)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| port_error("ReceiveMessage", e))?;
        Ok(output.messages().to_vec())
    }
}

fn group_of(message: &aws_sdk_sqs::types::Message) -> String {
    message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
        .cloned()
        .unwrap_or_else(|| "unknown".to_owned())
}

fn describe(message: &aws_sdk_sqs::types::Message) -> DeadLetter {
    let attribute = |name: MessageSystemAttributeName| {
        message
            .attributes()
            .and_then(|a| a.get(&name))
            .cloned()
            .unwrap_or_default()
    };
    // The replicator's own words when it parked the message; otherwise (SQS's redrive after
    // maxReceiveCount) what decoding it again tells.
    let recorded = message
        .message_attributes()
        .and_then(|a| a.get(REASON_ATTRIBUTE))
        .and_then(|v| v.string_value());
    let (what, refused) = match decode_delivery(message.body().unwrap_or_default()) {
        Ok(decoded) => (
            match recorded {
                Some(reason) => format!("{} ({}): {reason}", decoded.subject.key(), decoded.cause),
                None => format!(
                    "{} ({}): decodes and checks fine, so it failed to apply; see the replicator's logs for this group",
                    decoded.subject.key(),
                    decoded.cause
                ),
            },
            false,
        ),
        // The reason recorded at parking first: a withheld body (a private key) decodes as
        // a malformed stub, which says nothing of why it was refused.
        Err(rejection) => (
            recorded.map_or_else(|| format!("refused: {rejection}"), str::to_owned),
            true,
        ),
    };
    DeadLetter {
        message_id: message.message_id().unwrap_or_default().to_owned(),
        group: group_of(message),
        receive_count: attribute(MessageSystemAttributeName::ApproximateReceiveCount)
            .parse()
            .unwrap_or(0),
        what,
        refused,
    }
}
