//! cert-replicator (DR): SQS FIFO batches of state messages in, applied to DR's IoT
//! registry. A poison message goes to the DLQ at once with its reason (message attribute
//! `dr.reason`); transient failures are reported back (partial batch response) so only they
//! retry. Should parking fail, the poison message is reported failed too and the queue's
//! redrive dead-letters it after maxReceiveCount (its reason then only in the logs).

use anyhow::Context;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use dr_aws::dlq::SqsDeadLetterSink;
use dr_aws::iot::IotRegistry;
use dr_aws::ledger::DynamoLedger;
use dr_aws::{runtime, AwsSession};
use dr_core::replication::service::{apply_batch, park_poison, Delivery};
use dr_core::replication::ArnRewrite;
use dr_core::report::emf;
use dr_core::{Side, Topology};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use tokio::sync::OnceCell;

struct Deps {
    dr: IotRegistry,
    ledger: DynamoLedger,
    rewrite: ArnRewrite,
    session: AwsSession,
    topology: Topology,
    /// Found on the first poison message, and looked for again on the next one if that
    /// failed: one failed lookup must not turn parking off for the container's life.
    dead_letters: OnceCell<SqsDeadLetterSink>,
}

impl Deps {
    async fn dead_letters(&self) -> Option<&SqsDeadLetterSink> {
        self.dead_letters
            .get_or_try_init(|| SqsDeadLetterSink::connect(&self.session, &self.topology))
            .await
            // Without it the redrive policy still dead-letters poison: degrade, do not stop.
            .inspect_err(|error| tracing::error!(%error, "no DLQ to park poison messages in; the redrive policy will move them after maxReceiveCount"))
            .ok()
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_json_tracing();
    let topology = runtime::topology_from_env().context("cert-replicator configuration")?;
    let session = AwsSession::connect(&topology, "cert-replicator").await;
    let deps = Deps {
        dr: IotRegistry::replication_target(&session, &topology),
        ledger: DynamoLedger::new(
            session.dynamodb(Side::Dr),
            topology.replication.ledger_table.as_str(),
        ),
        rewrite: ArnRewrite::primary_to_dr(&topology),
        session,
        topology,
        dead_letters: OnceCell::new(),
    };
    run(service_fn(|event: LambdaEvent<SqsEvent>| {
        handler(event, &deps)
    }))
    .await
}

async fn handler(event: LambdaEvent<SqsEvent>, deps: &Deps) -> Result<SqsBatchResponse, Error> {
    let deliveries: Vec<Delivery<'_>> = event
        .payload
        .records
        .iter()
        .map(|record| Delivery {
            message_id: record.message_id.as_deref().unwrap_or_default(),
            group: record.attributes.get("MessageGroupId").map(String::as_str),
            body: record.body.as_deref().unwrap_or_default(),
        })
        .collect();
    let mut report = apply_batch(
        &deliveries,
        &deps.rewrite,
        &deps.dr,
        &deps.ledger,
        dr_core::time::now_millis,
    )
    .await;
    if !report.poison.is_empty() {
        if let Some(sink) = deps.dead_letters().await {
            park_poison(&mut report, &deliveries, sink).await;
        }
    }

    emf::emit("cert-replicator", &report, dr_core::time::now_millis());

    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = report
        .failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    Ok(response)
}
