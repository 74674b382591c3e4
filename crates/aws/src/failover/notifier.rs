//! Operators' SNS topic in DR.

use dr_core::failover::Notifier;
use dr_core::port::PortError;
use dr_core::{Side, Topology};

use crate::error::port_error;
use crate::AwsSession;

/// Operators' topic in DR.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    /// The operator topic of the topology.
    pub fn new(session: &AwsSession, topology: &Topology) -> Self {
        Self {
            client: session.sns(Side::Dr),
            topic_arn: operator_topic_arn(topology),
        }
    }
}

/// The operator topic's ARN (in DR).
pub fn operator_topic_arn(topology: &Topology) -> String {
    format!(
        "arn:aws:sns:{}:{}:{}",
        topology.dr.region, topology.dr.account_id, topology.failover.operator_topic
    )
}

impl Notifier for SnsNotifier {
    async fn notify(&self, subject: &str, message: &str) -> Result<(), PortError> {
        // SNS subjects are at most 100 printable ASCII characters.
        let subject: String = subject
            .chars()
            .filter(|c| c.is_ascii() && !c.is_ascii_control())
            .take(100)
            .collect();
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| port_error("Publish", e))
    }
}
