//! Where our resources live, derived from the topology: one place, so capture, the
//! replicator, provisioning and drctl can never disagree.

use dr_core::Topology;

/// The replication topic and queues are FIFO (per-certificate order); AWS requires the suffix.
pub const FIFO_SUFFIX: &str = ".fifo";

/// The DR-owned replication topic's ARN.
pub fn replication_topic_arn(topology: &Topology) -> String {
    format!(
        "arn:aws:sns:{}:{}:{}{FIFO_SUFFIX}",
        topology.dr.region, topology.dr.account_id, topology.replication.topic
    )
}

/// The replication queue's name.
pub fn replication_queue_name(topology: &Topology) -> String {
    format!("{}{FIFO_SUFFIX}", topology.replication.queue)
}

/// The replication dead-letter queue's name.
pub fn dead_letter_queue_name(topology: &Topology) -> String {
    format!("{}{FIFO_SUFFIX}", topology.replication.dead_letter_queue)
}

/// A queue's ARN in the DR account.
pub fn dr_queue_arn(topology: &Topology, queue_name: &str) -> String {
    format!(
        "arn:aws:sqs:{}:{}:{queue_name}",
        topology.dr.region, topology.dr.account_id
    )
}
