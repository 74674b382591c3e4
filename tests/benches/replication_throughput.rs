//! Replicating 1,000 new certificates through the sandbox pipeline, against the same
//! 1,000 registered by a minimal direct SDK loop. A timed harness; `make bench` prints the
//! table. Every certificate comes with a thing and the fleet's shared policy, as a real
//! wearable does, and the direct loop does the same four registrations.
//!
//! Pipeline: capture (primary reads, SNS FIFO publish) → SQS FIFO → apply (DR writes,
//! ledger), with CAPTURE_WORKERS captures and APPLY_WORKERS queue pollers in parallel, as
//! concurrent Lambda invocations would run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use aws_sdk_iot::types::CertificateStatus as SdkStatus;
use dr_aws::bus::SnsBus;
use dr_aws::iot::IotRegistry;
use dr_aws::ledger::DynamoLedger;
use dr_aws::{names, AwsSession};
use dr_core::replication::message::SourceRef;
use dr_core::replication::service::capture_and_publish;
use dr_core::replication::ArnRewrite;
use dr_core::{CertificatePem, Side, Topology};
use dr_sandbox::{LauncherPaths, SandboxServer};
use sandbox_tests::deliver_batch;
use serde_json::json;
use tokio::task::JoinSet;

const CERTIFICATES: usize = 1_000;
const CAPTURE_WORKERS: usize = 8;
const APPLY_WORKERS: usize = 4;
const POLICY: &str = "fleet-wearable";

struct Pipeline {
    primary: IotRegistry,
    dr: IotRegistry,
    ledger: DynamoLedger,
    bus: SnsBus,
    rewrite: ArnRewrite,
    source: SourceRef,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

#[tokio::main]
async fn main() {
    let log = std::env::temp_dir().join(format!("drctl-bench-repl-{}.log", std::process::id()));
    let server = SandboxServer::start(&LauncherPaths::from_build(), &log)
        .await
        .expect("the sandbox starts (run `make setup`)");
    let topology = Topology::parse(
        include_str!("../../config/sandbox.toml"),
        "config/sandbox.toml",
        [(
            "DRCTL__SANDBOX__ENDPOINT".to_owned(),
            server.endpoint().to_string(),
        )],
    )
    .unwrap();
    dr_sandbox::provision(&topology).await.unwrap();
    // The fleet's own calls and the event source mapping are the administrator's; capture
    // and the apply run under their Lambdas' roles.
    let session = AwsSession::connect(&dr_sandbox::identity::as_admin(&topology), "bench").await;

    let devices: Vec<(String, String)> = (0..CERTIFICATES)
        .map(|i| {
            let pem = rcgen::generate_simple_self_signed(vec![format!("bench-{i}.example.com")])
                .unwrap()
                .cert
                .pem();
            (pem, format!("bench-wearable-{i}"))
        })
        .collect();

    // Primary: the fleet's own provisioning (not timed), then the pipeline (timed).
    let iot = session.iot(Side::Primary);
    let document = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect",
        "Resource": format!("arn:aws:iot:{}:{}:client/${{iot:Connection.Thing.ThingName}}", topology.primary.region, topology.primary.account_id)}]});
    iot.create_policy()
        .policy_name(POLICY)
        .policy_document(document.to_string())
        .send()
        .await
        .unwrap();
    for (pem, thing) in &devices {
        register_with_thing_and_policy(
            &iot,
            pem,
            thing,
            topology.primary.account_id.as_str(),
            topology.primary.region.as_str(),
        )
        .await;
    }

    let pipeline = Arc::new(pipeline(&session, &topology).await);
    let ids: Vec<String> = devices
        .iter()
        .map(|(pem, _)| CertificatePem::parse(pem).unwrap().id().to_string())
        .collect();
    let started = Instant::now();
    let mut appliers = JoinSet::new();
    for _ in 0..APPLY_WORKERS {
        let p = pipeline.clone();
        appliers.spawn(async move { drain(&p).await });
    }
    let mut captures = JoinSet::new();
    let ids = Arc::new(ids);
    for worker in 0..CAPTURE_WORKERS {
        let (p, ids) = (pipeline.clone(), ids.clone());
        captures.spawn(async move {
            for id in ids.iter().skip(worker).step_by(CAPTURE_WORKERS) {
                let event = json!({
                    "detail-type": "AWS API Call via CloudTrail", "source": "aws.iot",
                    "detail": {"eventName": "AttachThingPrincipal", "eventTime": rfc3339_now(),
                        "requestParameters": {"thingName": "x", "principal": format!("arn:aws:iot:us-east-1:111111111111:cert/{id}")}}
                });
                capture_and_publish(&event, &p.primary, &p.bus, &p.source, dr_core::time::now_millis)
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(result) = captures.join_next().await {
        result.unwrap();
    }
    let deadline = Instant::now() + std::time::Duration::from_secs(600);
    while APPLIED.load(Ordering::Relaxed) < CERTIFICATES && Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    appliers.abort_all();
    let applied = APPLIED.load(Ordering::Relaxed);
    let mut lags = LAGS.lock().unwrap().clone();
    let pipeline_seconds = started.elapsed().as_secs_f64();

    // The same certificates, registered directly in a third account by the plainest loop.
    let direct_session = AwsSession::connect(
        &dr_sandbox::identity::as_admin(
            &Topology::parse(
                &include_str!("../../config/sandbox.toml").replace("222222222222", "333333333333"),
                "config/sandbox.toml",
                [(
                    "DRCTL__SANDBOX__ENDPOINT".to_owned(),
                    server.endpoint().to_string(),
                )],
            )
            .unwrap(),
        ),
        "bench-direct",
    )
    .await;
    let direct = direct_session.iot(Side::Dr);
    direct
        .create_policy()
        .policy_name(POLICY)
        .policy_document(document.to_string())
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    for (pem, thing) in &devices {
        register_with_thing_and_policy(
            &direct,
            pem,
            thing,
            "333333333333",
            topology.dr.region.as_str(),
        )
        .await;
    }
    let direct_seconds = started.elapsed().as_secs_f64();
    server.stop().await.unwrap();

    lags.sort_unstable();
    let pick = |q: f64| lags[((lags.len() - 1) as f64 * q).round() as usize];
    let pipeline_rate = applied as f64 / pipeline_seconds;
    let direct_rate = CERTIFICATES as f64 / direct_seconds;
    let n = CERTIFICATES as f64;
    println!(
        "certificate replication, {CERTIFICATES} new certificates each with a thing and a policy"
    );
    println!("(sandbox: moto on loopback, debug build, {CAPTURE_WORKERS} capture and {APPLY_WORKERS} apply workers)");
    println!("| measure | value |");
    println!("|---|---|");
    println!("| certificates applied in DR | {applied} |");
    println!("| pipeline throughput | {pipeline_rate:.1} certificates/s |");
    println!("| lag p50 (event → applied in DR) | {} ms |", pick(0.5));
    println!("| lag p99 | {} ms |", pick(0.99));
    println!(
        "| primary IoT calls per certificate (capture reads) | {:.2} |",
        pipeline.primary.calls() as f64 / n
    );
    println!(
        "| DR IoT calls per new certificate (apply) | {:.2} |",
        pipeline.dr.calls() as f64 / n
    );
    println!(
        "| DR DynamoDB calls per certificate (ledger) | {:.2} |",
        pipeline.ledger.calls() as f64 / n
    );
    println!("| direct SDK loop throughput | {direct_rate:.1} certificates/s |");
    println!("| pipeline / direct | {:.2} |", pipeline_rate / direct_rate);
}

async fn register_with_thing_and_policy(
    iot: &aws_sdk_iot::Client,
    pem: &str,
    thing: &str,
    account: &str,
    region: &str,
) {
    let registered = iot
        .register_certificate_without_ca()
        .certificate_pem(pem)
        .status(SdkStatus::Active)
        .send()
        .await
        .unwrap();
    let arn = registered.certificate_arn().unwrap().to_owned();
    debug_assert!(arn.contains(account) && arn.contains(region));
    iot.create_thing().thing_name(thing).send().await.unwrap();
    iot.attach_thing_principal()
        .thing_name(thing)
        .principal(&arn)
        .send()
        .await
        .unwrap();
    iot.attach_policy()
        .policy_name(POLICY)
        .target(&arn)
        .send()
        .await
        .unwrap();
}

async fn pipeline(session: &AwsSession, topology: &Topology) -> Pipeline {
    let sqs = session.sqs(Side::Dr);
    let capture = AwsSession::connect(
        &dr_sandbox::identity::as_function(topology, "cert-capture"),
        "bench",
    )
    .await;
    let replicator = AwsSession::connect(
        &dr_sandbox::identity::as_function(topology, "cert-replicator"),
        "bench",
    )
    .await;
    let queue_url = sqs
        .get_queue_url()
        .queue_name(names::replication_queue_name(topology))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    Pipeline {
        primary: IotRegistry::for_side(&capture, topology, Side::Primary),
        dr: IotRegistry::for_side(&replicator, topology, Side::Dr),
        ledger: DynamoLedger::new(
            replicator.dynamodb(Side::Dr),
            topology.replication.ledger_table.as_str(),
        ),
        bus: SnsBus::for_replication(&capture, topology),
        rewrite: ArnRewrite::primary_to_dr(topology),
        source: SourceRef::of(topology, Side::Primary),
        sqs,
        queue_url,
    }
}

/// One poller of the event source mapping: receive, apply, delete, until aborted.
async fn drain(p: &Pipeline) {
    loop {
        match deliver_batch(&p.sqs, &p.queue_url, &p.rewrite, &p.dr, &p.ledger).await {
            Some(report) => {
                LAGS.lock().unwrap().extend(report.lag_ms);
                APPLIED.fetch_add(report.applied as usize, Ordering::Relaxed);
            }
            None => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
}

static APPLIED: AtomicUsize = AtomicUsize::new(0);
static LAGS: std::sync::Mutex<Vec<i64>> = std::sync::Mutex::new(Vec::new());

fn rfc3339_now() -> String {
    // The capture only needs a parseable time; lag is measured from the message's own
    // event time, which capture takes from here.
    dr_sandbox::events::rfc3339(dr_core::time::now_millis(), true)
}
