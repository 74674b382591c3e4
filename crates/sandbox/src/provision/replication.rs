//! Flow A's resources, all in the DR account and region (the CDK DR stack's twins):
//! a customer-managed KMS key, per lane (registry, shadows) the SNS FIFO topic primary
//! publishes to, the SQS FIFO queue and the subscription between them, the DLQ both lanes
//! share, and the applied-version ledger table.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification,
    ScalarAttributeType, SseSpecification,
};
use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sqs::types::QueueAttributeName;
use dr_aws::{names, AwsSession};
use dr_core::replication::Lane;
use dr_core::{Side, Topology};
use serde_json::json;

use super::{Outcome, ProvisionError, Provisioned};

/// Longer than the replicator's timeout, as AWS requires for an event source mapping.
pub const VISIBILITY_TIMEOUT_SECONDS: u32 = 120;

pub(super) async fn provision(
    session: &AwsSession,
    topology: &Topology,
) -> Result<Vec<Provisioned>, ProvisionError> {
    let mut report = Vec::new();
    let (key_arn, key) = ensure_key(session, topology).await?;
    report.push(key);

    let sqs = session.sqs(Side::Dr);
    let dlq_name = names::dead_letter_queue_name(topology);
    let dlq_arn = names::dr_queue_arn(topology, &dlq_name);
    let topic_arns: Vec<String> = Lane::ALL
        .iter()
        .map(|lane| names::lane_topic_arn(topology, *lane))
        .collect();
    let mut dlq_attributes = base_queue_attributes(&key_arn);
    // Each lane's topic dead-letters what it cannot deliver to its queue into the DLQ.
    dlq_attributes.push((
        QueueAttributeName::Policy,
        only_topics_send(&dlq_arn, &topic_arns),
    ));
    let (_, dlq) = ensure_queue(&sqs, &dlq_name, dlq_attributes).await?;
    report.push(dlq);

    for lane in Lane::ALL {
        let queue_name = names::lane_queue_name(topology, lane);
        let queue_arn = names::dr_queue_arn(topology, &queue_name);
        let topic_arn = names::lane_topic_arn(topology, lane);
        let mut attributes = base_queue_attributes(&key_arn);
        attributes.push((
            QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": names::MAX_RECEIVE_COUNT})
                .to_string(),
        ));
        attributes.push((
            QueueAttributeName::VisibilityTimeout,
            VISIBILITY_TIMEOUT_SECONDS.to_string(),
        ));
        attributes.push((
            QueueAttributeName::Policy,
            only_topics_send(&queue_arn, std::slice::from_ref(&topic_arn)),
        ));
        let (_, queue) = ensure_queue(&sqs, &queue_name, attributes).await?;
        report.push(queue);
        report.push(ensure_topic(session, topology, lane, &key_arn, &queue_arn, &dlq_arn).await?);
    }
    report.push(ensure_ledger(session, topology).await?);
    Ok(report)
}

/// A queue policy letting only the replication topics send.
fn only_topics_send(queue_arn: &str, topic_arns: &[String]) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "OnlyTheReplicationTopicSends",
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": topic_arns}}
        }]
    })
    .to_string()
}

fn base_queue_attributes(key_arn: &str) -> Vec<(QueueAttributeName, String)> {
    vec![
        (QueueAttributeName::FifoQueue, "true".to_owned()),
        (QueueAttributeName::KmsMasterKeyId, key_arn.to_owned()),
        // 14 days: the longest SQS keeps anything, time for operators to replay the DLQ.
        (
            QueueAttributeName::MessageRetentionPeriod,
            "1209600".to_owned(),
        ),
    ]
}

/// The key policy: DR administers its key (AWS's default statement; without it the key is
/// unmanageable), SNS may encrypt into the queues, and primary's capture role may publish to
/// the encrypted topic. Nobody else may use it.
fn key_policy(topology: &Topology) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DrAccountAdministersTheKey",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{}:root", topology.dr.account_id)},
                "Action": "kms:*",
                "Resource": "*"
            },
            {
                "Sid": "SnsEncryptsIntoTheQueues",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                "Resource": "*"
            },
            {
                "Sid": "PrimaryCapturePublishesToTheEncryptedTopic",
                "Effect": "Allow",
                "Principal": {"AWS": topology.primary.role_arn.as_str()},
                "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                "Resource": "*"
            }
        ]
    })
    .to_string()
}

async fn ensure_key(
    session: &AwsSession,
    topology: &Topology,
) -> Result<(String, Provisioned), ProvisionError> {
    let (arn, outcome) = super::kms::ensure_key(
        &session.kms(Side::Dr),
        Side::Dr,
        names::REPLICATION_KEY_ALIAS,
        "Encrypts the DR certificate-replication topic and queues at rest",
        key_policy(topology),
    )
    .await?;
    Ok((arn.clone(), provisioned("kms key", arn, outcome)))
}

async fn ensure_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: Vec<(QueueAttributeName, String)>,
) -> Result<(String, Provisioned), ProvisionError> {
    let error = |e: String| ProvisionError::new(Side::Dr, format!("queue {name}"), e);
    let existed = sqs.get_queue_url().queue_name(name).send().await.is_ok();
    let created = sqs
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes.into_iter().collect()))
        .send()
        .await
        .map_err(|e| error(DisplayErrorContext(e).to_string()))?;
    let url = created.queue_url().unwrap_or_default().to_owned();
    let outcome = if existed {
        Outcome::Existed
    } else {
        Outcome::Created
    };
    Ok((url.clone(), provisioned("sqs queue", url, outcome)))
}

async fn ensure_topic(
    session: &AwsSession,
    topology: &Topology,
    lane: Lane,
    key_arn: &str,
    queue_arn: &str,
    dlq_arn: &str,
) -> Result<Provisioned, ProvisionError> {
    let sns = session.sns(Side::Dr);
    let topic_arn = names::lane_topic_arn(topology, lane);
    let error = |e: String| ProvisionError::new(Side::Dr, format!("topic {topic_arn}"), e);
    let existed = sns
        .get_topic_attributes()
        .topic_arn(&topic_arn)
        .send()
        .await
        .is_ok();
    // Only primary's control-plane role (the capture Lambda) may publish.
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "OnlyPrimaryCapturePublishes",
            "Effect": "Allow",
            "Principal": {"AWS": topology.primary.role_arn.as_str()},
            "Action": "sns:Publish",
            "Resource": topic_arn
        }]
    });
    sns.create_topic()
        .name(names::lane_topic_name(topology, lane))
        .attributes("FifoTopic", "true")
        .attributes("ContentBasedDeduplication", "false")
        .attributes("KmsMasterKeyId", key_arn)
        .attributes("Policy", policy.to_string())
        .send()
        .await
        .map_err(|e| error(DisplayErrorContext(e).to_string()))?;
    let subscriptions = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic_arn)
        .send()
        .await
        .map_err(|e| error(DisplayErrorContext(e).to_string()))?;
    let subscribed = subscriptions
        .subscriptions()
        .iter()
        .any(|s| s.endpoint() == Some(queue_arn));
    if !subscribed {
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            // The queue receives our message itself, not an SNS envelope around it.
            .attributes("RawMessageDelivery", "true")
            // What SNS cannot deliver to the queue (a KMS or policy mistake) is kept too.
            .attributes(
                "RedrivePolicy",
                json!({"deadLetterTargetArn": dlq_arn}).to_string(),
            )
            .send()
            .await
            .map_err(|e| error(DisplayErrorContext(e).to_string()))?;
    }
    let outcome = if existed {
        Outcome::Existed
    } else {
        Outcome::Created
    };
    Ok(provisioned("sns topic", topic_arn, outcome))
}

async fn ensure_ledger(
    session: &AwsSession,
    topology: &Topology,
) -> Result<Provisioned, ProvisionError> {
    ensure_table(
        session,
        topology.replication.ledger_table.as_str(),
        names::LEDGER_TABLE_KEY,
    )
    .await
}

/// A DynamoDB table in DR keyed by the string `key`: on-demand, encrypted, with
/// point-in-time recovery (the ledger keeps revoked certificates revoked; the failover
/// table holds the fencing token and the audit trail).
pub(super) async fn ensure_table(
    session: &AwsSession,
    table: &str,
    key_name: &str,
) -> Result<Provisioned, ProvisionError> {
    let dynamodb = session.dynamodb(Side::Dr);
    let error = |e: String| ProvisionError::new(Side::Dr, format!("table {table}"), e);
    let key = |name: &str| -> Result<(AttributeDefinition, KeySchemaElement), ProvisionError> {
        Ok((
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| error(e.to_string()))?,
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(KeyType::Hash)
                .build()
                .map_err(|e| error(e.to_string()))?,
        ))
    };
    let (definition, schema) = key(key_name)?;
    let outcome = match dynamodb
        .create_table()
        .table_name(table)
        .attribute_definitions(definition)
        .key_schema(schema)
        .billing_mode(BillingMode::PayPerRequest)
        .sse_specification(SseSpecification::builder().enabled(true).build())
        .send()
        .await
    {
        Ok(_) => Outcome::Created,
        Err(e) if e.code() == Some("ResourceInUseException") => Outcome::Existed,
        Err(e) => return Err(error(DisplayErrorContext(e).to_string())),
    };
    dynamodb
        .update_continuous_backups()
        .table_name(table)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .build()
                .map_err(|e| error(e.to_string()))?,
        )
        .send()
        .await
        .map_err(|e| error(DisplayErrorContext(e).to_string()))?;
    Ok(provisioned("dynamodb", table.to_owned(), outcome))
}

pub(super) fn provisioned(kind: &'static str, id: String, outcome: Outcome) -> Provisioned {
    Provisioned {
        side: Side::Dr,
        kind,
        id,
        outcome,
    }
}
