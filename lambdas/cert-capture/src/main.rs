//! cert-capture (primary): JITR, registry and CloudTrail events in, one state message per
//! touched subject out, on the DR-owned SNS FIFO topic.
//!
//! Failures return an error, so Lambda's asynchronous retries and the function's failure
//! destination keep the event; the reconciler repairs whatever still slips through.

use anyhow::Context;
use dr_aws::iot::IotRegistry;
use dr_aws::{bus::SnsBus, runtime, AwsSession};
use dr_core::replication::message::SourceRef;
use dr_core::replication::service::capture_and_publish;
use dr_core::Side;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

struct Deps {
    primary: IotRegistry,
    bus: SnsBus,
    source: SourceRef,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_json_tracing();
    let topology = runtime::topology_from_env().context("cert-capture configuration")?;
    let session = AwsSession::connect(&topology, "cert-capture").await;
    let deps = Deps {
        primary: IotRegistry::for_side(&session, &topology, Side::Primary),
        bus: SnsBus::for_replication(&session, &topology),
        source: SourceRef::of(&topology, Side::Primary),
    };
    run(service_fn(|event: LambdaEvent<Value>| {
        handler(event, &deps)
    }))
    .await
}

async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, Error> {
    let messages = capture_and_publish(
        &event.payload,
        &deps.primary,
        &deps.bus,
        &deps.source,
        dr_core::time::now_millis,
    )
    .await?;
    let subjects: Vec<String> = messages.iter().map(|m| m.subject.key()).collect();
    Ok(json!({ "published": subjects }))
}
