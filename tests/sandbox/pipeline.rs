//! A replication pipeline of its own per test: unique topic, queues and ledger in DR, so
//! tests run in parallel on the shared sandbox. The harness plays Lambda's event source
//! mapping: it receives from the queue, hands the batch to the replicator's use case, deletes
//! what succeeded, and lets failures come back (immediately, instead of after the
//! visibility timeout) until SQS dead-letters them.
//!
//! Each side of the pipeline runs as its Lambda does: capture's reads and publish under
//! cert-capture's roles, the apply under cert-replicator's; `session` is the
//! administrator's, for fixtures and assertions.

use std::collections::BTreeMap;

use dr_aws::bus::SnsBus;
use dr_aws::iot::IotRegistry;
use dr_aws::ledger::DynamoLedger;
use dr_aws::{names, AwsSession};
use dr_core::replication::message::SourceRef;
use dr_core::replication::service::{capture_and_publish, BatchReport};
use dr_core::replication::{ArnRewrite, ReplicationMessage};
use dr_core::{Side, Topology};
use sandbox_tests::deliver_batch;

use crate::helpers::{admin, as_function, shared_endpoint, topology_for, unique};

pub(crate) struct Pipeline {
    pub(crate) topology: Topology,
    /// The administrator's (fixtures, assertions, the event source mapping).
    pub(crate) session: AwsSession,
    /// cert-replicator's.
    pub(crate) replicator_session: AwsSession,
    pub(crate) primary: IotRegistry,
    pub(crate) dr: IotRegistry,
    pub(crate) ledger: DynamoLedger,
    pub(crate) bus: SnsBus,
    pub(crate) rewrite: ArnRewrite,
    pub(crate) sqs: aws_sdk_sqs::Client,
    pub(crate) queue_url: String,
    /// The shadow lane's queue.
    pub(crate) shadow_queue_url: String,
    pub(crate) dlq_url: String,
}

impl Pipeline {
    pub(crate) async fn new() -> Self {
        Self::on(&shared_endpoint()).await
    }

    /// A pipeline on a sandbox of the test's own (for tests that list whole registries).
    pub(crate) async fn on(endpoint: &dr_core::Endpoint) -> Self {
        let endpoint = endpoint.clone();
        let prefix = unique("repl");
        let mut topology = topology_for(&endpoint);
        topology.replication.topic = format!("{prefix}-topic").parse().unwrap();
        topology.replication.queue = format!("{prefix}-queue").parse().unwrap();
        topology.replication.shadow_topic = format!("{prefix}-shadow-topic").parse().unwrap();
        topology.replication.shadow_queue = format!("{prefix}-shadow-queue").parse().unwrap();
        topology.replication.dead_letter_queue = format!("{prefix}-dlq").parse().unwrap();
        topology.replication.ledger_table = format!("{prefix}-ledger").parse().unwrap();
        dr_sandbox::provision(&topology)
            .await
            .expect("provisioning");
        let session = admin(&topology).await;
        let capture_session = as_function(&topology, "cert-capture").await;
        let replicator_session = as_function(&topology, "cert-replicator").await;

        let sqs = session.sqs(Side::Dr);
        let url = |name: String| {
            let sqs = sqs.clone();
            async move {
                sqs.get_queue_url()
                    .queue_name(name)
                    .send()
                    .await
                    .unwrap()
                    .queue_url()
                    .unwrap()
                    .to_owned()
            }
        };
        let queue_url = url(names::replication_queue_name(&topology)).await;
        let shadow_queue_url = url(names::shadow_queue_name(&topology)).await;
        let dlq_url = url(names::dead_letter_queue_name(&topology)).await;
        Self {
            primary: IotRegistry::for_side(&capture_session, &topology, Side::Primary),
            dr: IotRegistry::for_side(&replicator_session, &topology, Side::Dr),
            ledger: DynamoLedger::new(
                replicator_session.dynamodb(Side::Dr),
                topology.replication.ledger_table.as_str(),
            ),
            bus: SnsBus::for_replication(&capture_session, &topology),
            rewrite: ArnRewrite::primary_to_dr(&topology),
            sqs,
            queue_url,
            shadow_queue_url,
            dlq_url,
            session,
            replicator_session,
            topology,
        }
    }

    pub(crate) fn source(&self) -> SourceRef {
        SourceRef::of(&self.topology, Side::Primary)
    }

    /// Run the capture use case on one event, as the capture Lambda would.
    pub(crate) async fn capture(&self, event: &serde_json::Value) -> Vec<ReplicationMessage> {
        capture_and_publish(
            event,
            &self.primary,
            &self.bus,
            &self.source(),
            dr_core::time::now_millis,
        )
        .await
        .expect("capture publishes")
    }

    /// Put a raw body on the queue, as a redelivery or a misbehaving publisher would.
    pub(crate) async fn send_raw(&self, group: &str, body: &str) {
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_group_id(group)
            .message_deduplication_id(unique("dedup"))
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    /// Receive and apply until the queue is empty; failed messages come back at once, so
    /// SQS's redrive moves them to the DLQ after maxReceiveCount receives.
    pub(crate) async fn drain(&self) -> BatchReport {
        let mut total = BatchReport::default();
        let mut empty_polls = 0;
        while empty_polls < 2 {
            let mut delivered = false;
            // Both lanes, as their two event source mappings would.
            for queue_url in [&self.queue_url, &self.shadow_queue_url] {
                if let Some(report) =
                    deliver_batch(&self.sqs, queue_url, &self.rewrite, &self.dr, &self.ledger).await
                {
                    delivered = true;
                    merge(&mut total, report);
                }
            }
            if delivered {
                empty_polls = 0;
            } else {
                empty_polls += 1;
            }
        }
        total
    }

    /// Whether both lanes' queues hold nothing, visible or in flight.
    pub(crate) async fn queue_is_empty(&self) -> bool {
        use aws_sdk_sqs::types::QueueAttributeName as Name;
        for queue_url in [&self.queue_url, &self.shadow_queue_url] {
            let counts = self
                .sqs
                .get_queue_attributes()
                .queue_url(queue_url)
                .attribute_names(Name::ApproximateNumberOfMessages)
                .attribute_names(Name::ApproximateNumberOfMessagesNotVisible)
                .send()
                .await
                .unwrap();
            let empty = counts
                .attributes()
                .into_iter()
                .flat_map(|a| a.values())
                .all(|v| v == "0");
            if !empty {
                return false;
            }
        }
        true
    }

    /// Bodies waiting in the DLQ.
    pub(crate) async fn dead_letters(&self) -> Vec<String> {
        let mut bodies = Vec::new();
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.dlq_url)
                .max_number_of_messages(10)
                .visibility_timeout(300)
                .send()
                .await
                .unwrap();
            if received.messages().is_empty() {
                return bodies;
            }
            bodies.extend(
                received
                    .messages()
                    .iter()
                    .filter_map(|m| m.body().map(str::to_owned)),
            );
        }
    }
}

fn merge(total: &mut BatchReport, report: BatchReport) {
    total.failed.extend(report.failed);
    total.applied += report.applied;
    total.stale += report.stale;
    total.rejected += report.rejected;
    total.retried += report.retried;
    total.held_back += report.held_back;
    total.lag_ms.extend(report.lag_ms);
}

pub(crate) use dr_sandbox::devices::Device;

/// A thing's attributes, for readable test setup.
pub(crate) fn attributes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
