//! Flow A's resources in DR: the topics, queues and tables, present and encrypted.

use dr_core::{Side, Topology};

use super::{check, Check, Verdict};
use crate::failover::operator_topic_arn;
use crate::{names, AwsSession};

pub(super) async fn replication_resources(session: &AwsSession, topology: &Topology) -> Vec<Check> {
    let sns = session.sns(Side::Dr);
    let mut checks = Vec::new();
    for (name, arn) in [
        ("replication topic", names::replication_topic_arn(topology)),
        (
            "shadow replication topic",
            names::lane_topic_arn(topology, dr_core::replication::Lane::Shadows),
        ),
        ("operator topic", operator_topic_arn(topology)),
    ] {
        checks.push(
            match sns.get_topic_attributes().topic_arn(&arn).send().await {
                Ok(output) => {
                    let encrypted = output
                        .attributes()
                        .and_then(|a| a.get("KmsMasterKeyId"))
                        .is_some_and(|k| !k.is_empty());
                    if encrypted {
                        check(name, Verdict::Ok, format!("{arn}, KMS-encrypted"))
                    } else {
                        check(
                            name,
                            Verdict::Fail,
                            format!("{arn} is not encrypted at rest: set KmsMasterKeyId"),
                        )
                    }
                }
                Err(e) => check(
                    name,
                    Verdict::Fail,
                    format!(
                        "{arn} missing: {}",
                        crate::error::port_error("GetTopicAttributes", e)
                    ),
                ),
            },
        );
    }
    let sqs = session.sqs(Side::Dr);
    for (name, queue) in [
        ("replication queue", names::replication_queue_name(topology)),
        (
            "shadow replication queue",
            names::shadow_queue_name(topology),
        ),
        ("replication DLQ", names::dead_letter_queue_name(topology)),
    ] {
        checks.push(match sqs.get_queue_url().queue_name(&queue).send().await {
            Ok(_) => check(name, Verdict::Ok, queue),
            Err(e) => check(
                name,
                Verdict::Fail,
                format!(
                    "{queue} missing ({}): poison messages would be retried forever or lost; deploy the DR stack",
                    crate::error::port_error("GetQueueUrl", e)
                ),
            ),
        });
    }
    let dynamodb = session.dynamodb(Side::Dr);
    for (name, table) in [
        ("ledger table", topology.replication.ledger_table.as_str()),
        (
            "failover state table",
            topology.failover.state_table.as_str(),
        ),
    ] {
        checks.push(
            match dynamodb.describe_table().table_name(table).send().await {
                Ok(_) => check(name, Verdict::Ok, table),
                Err(e) => check(
                    name,
                    Verdict::Fail,
                    format!(
                        "{table} missing: {}",
                        crate::error::port_error("DescribeTable", e)
                    ),
                ),
            },
        );
    }
    checks
}
