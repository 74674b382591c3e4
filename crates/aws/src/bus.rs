//! [`ReplicationBus`] on the DR-owned SNS FIFO topics, one per lane (registry, shadows).
//!
//! The message group is the subject's, so one certificate's messages are delivered in
//! order, one at a time; different certificates flow in parallel. The deduplication id is
//! the SHA-256 of the body: when the SDK retries a Publish whose first attempt SNS did
//! accept (a timeout on the way back), the copy is dropped. A re-run capture reads afresh
//! and publishes a new version; the ledger makes that copy harmless.

use aws_sdk_sns::Client;
use dr_core::port::PortError;
use dr_core::replication::ports::ReplicationBus;
use dr_core::replication::{Lane, ReplicationMessage};
use sha2::{Digest, Sha256};

use crate::error::port_error;
use crate::{names, AwsSession};

/// The replication topics, one per [`Lane`].
#[derive(Debug, Clone)]
pub struct SnsBus {
    client: Client,
    registry_topic_arn: String,
    shadow_topic_arn: String,
}

impl SnsBus {
    /// The DR-owned replication topics, published to with primary's credentials: the client
    /// is configured for the topics' region (DR's), not the caller's.
    pub fn for_replication(session: &AwsSession, topology: &dr_core::Topology) -> Self {
        Self::new(
            crate::session::client!(
                aws_sdk_sns,
                &session.config_in(dr_core::Side::Primary, &topology.dr.region)
            ),
            names::lane_topic_arn(topology, Lane::Registry),
            names::lane_topic_arn(topology, Lane::Shadows),
        )
    }

    /// Publish with `client` (configured for the topics' region): registry subjects to
    /// `registry_topic_arn`, shadows to `shadow_topic_arn`. One ARN for both puts every
    /// subject on one lane (benchmarks compare that with two).
    pub fn new(
        client: Client,
        registry_topic_arn: impl Into<String>,
        shadow_topic_arn: impl Into<String>,
    ) -> Self {
        Self {
            client,
            registry_topic_arn: registry_topic_arn.into(),
            shadow_topic_arn: shadow_topic_arn.into(),
        }
    }
}

impl ReplicationBus for SnsBus {
    async fn publish(&self, message: &ReplicationMessage) -> Result<(), PortError> {
        let body = message
            .encode()
            .map_err(|e| PortError::permanent("Publish", e.to_string()))?;
        let dedup = hex::encode(Sha256::digest(body.as_bytes()));
        let topic_arn = match message.subject.lane() {
            Lane::Registry => &self.registry_topic_arn,
            Lane::Shadows => &self.shadow_topic_arn,
        };
        self.client
            .publish()
            .topic_arn(topic_arn)
            .message(body)
            .message_group_id(message.subject.group_id())
            .message_deduplication_id(dedup)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| port_error("Publish", e))
    }
}
