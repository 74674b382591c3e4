//! `[replication]`: flow A's resources, all owned by the DR account.

use serde::{Deserialize, Serialize};

use super::{name, FieldError};
use crate::ids::ResourceName;

/// Names of the certificate-replication resources (flow A), all owned by the DR account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationNames {
    /// The DR-owned SNS topic the primary capture Lambda publishes state messages to.
    pub topic: ResourceName,
    /// The SQS queue subscribed to the topic, feeding the replicator.
    pub queue: ResourceName,
    /// The shadows' own lane: their SNS FIFO topic (a shadow storm cannot delay a
    /// revocation queued on the registry lane).
    pub shadow_topic: ResourceName,
    /// The SQS FIFO queue subscribed to the shadow topic, feeding the replicator.
    pub shadow_queue: ResourceName,
    /// Where messages go after the maximum receive count, with their reason logged.
    pub dead_letter_queue: ResourceName,
    /// The DynamoDB table of applied versions per certificate (stale and duplicate filter).
    pub ledger_table: ResourceName,
    /// Certificate registrations per second one replicator instance makes in DR: the
    /// account's RegisterCertificate quota divided by the replicator's maximum concurrency.
    /// Pacing at the quota keeps it busy without throttling (backoff after throttling leaves
    /// the quota idle: 8.9/s of 10 measured, 10.0/s paced). Unset: not paced, throttling is
    /// retried with backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register_per_second: Option<f64>,
}

impl Default for ReplicationNames {
    fn default() -> Self {
        Self {
            topic: name("dr-cert-replication"),
            queue: name("dr-cert-replication"),
            shadow_topic: name("dr-shadow-replication"),
            shadow_queue: name("dr-shadow-replication"),
            dead_letter_queue: name("dr-cert-replication-dlq"),
            ledger_table: name("dr-cert-ledger"),
            register_per_second: None,
        }
    }
}

impl ReplicationNames {
    pub(super) fn check(&self) -> Result<(), FieldError> {
        if self.shadow_topic == self.topic {
            return Err(FieldError::new(
                "replication.shadow_topic",
                "must differ from replication.topic: shadows travel their own lane",
            ));
        }
        let queues = [&self.queue, &self.shadow_queue, &self.dead_letter_queue];
        if queues[0] == queues[1] || queues[0] == queues[2] || queues[1] == queues[2] {
            return Err(FieldError::new(
                "replication.shadow_queue",
                "queue, shadow_queue and dead_letter_queue must be three queues",
            ));
        }
        // NaN is no rate either: only a finite positive number passes.
        if self
            .register_per_second
            .is_some_and(|rate| !(rate.is_finite() && rate > 0.0))
        {
            return Err(FieldError::new(
                "replication.register_per_second",
                "must be a positive number, or unset for no pacing",
            ));
        }
        Ok(())
    }
}
