//! DR under its IoT quota: RegisterCertificateWithoutCA limited to 10 per second by the
//! fault proxy (AWS answers ThrottlingException beyond a quota, as the proxy does), 1,000
//! new certificates replicated by APPLY_WORKERS concurrent replicators (as concurrent
//! Lambda invocations would run). Measures the sustained rate of certificates applied in
//! DR (target ≥ 9.5/s, the quota being 10) and that none is lost or dead-lettered.
//! A timed harness; `make bench` prints the table.
//!
//! Capture runs first, unthrottled and untimed: the quota is DR's.

use std::sync::Arc;
use std::time::Instant;

use aws_sdk_iot::types::CertificateStatus as SdkStatus;
use dr_aws::bus::SnsBus;
use dr_aws::iot::IotRegistry;
use dr_aws::ledger::DynamoLedger;
use dr_aws::{names, AwsSession};
use dr_core::replication::message::SourceRef;
use dr_core::replication::service::capture_and_publish;
use dr_core::replication::{ArnRewrite, CertificateRegistry};
use dr_core::{CertificatePem, Side};
use dr_sandbox::fault_proxy::{FaultProxy, FaultRule};
use dr_sandbox::identity::{as_admin, as_function};
use dr_sandbox::{LauncherPaths, SandboxServer};
use sandbox_tests::deliver_batch;
use serde_json::json;
use tokio::task::JoinSet;

const CERTIFICATES: usize = 1_000;

fn certificates() -> usize {
    std::env::var("DRCTL_BENCH_CERTIFICATES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CERTIFICATES)
}
const APPLY_WORKERS: usize = 4;
const QUOTA_PER_SECOND: f64 = 10.0;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            std::env::var("RUST_LOG").unwrap_or_else(|_| "error".into()),
        ))
        .with_writer(std::io::stderr)
        .init();
    let n = certificates();
    let log = std::env::temp_dir().join(format!("drctl-bench-quota-{}.log", std::process::id()));
    let server = SandboxServer::start(&LauncherPaths::from_build(), &log)
        .await
        .expect("the sandbox starts (run `make setup`)");
    let direct_topology = sandbox_tests::sandbox_topology(server.endpoint().as_str());
    dr_sandbox::provision(&direct_topology).await.unwrap();
    // The fleet's own calls and the event source mapping are the administrator's; capture
    // and the apply run under their Lambdas' roles.
    let direct = AwsSession::connect(&as_admin(&direct_topology), "bench").await;
    let capture =
        AwsSession::connect(&as_function(&direct_topology, "cert-capture"), "bench").await;

    // Primary's fleet and the capture (not timed, not throttled).
    let pems: Vec<String> = (0..n)
        .map(|i| {
            rcgen::generate_simple_self_signed(vec![format!("quota-{i}.example.com")])
                .unwrap()
                .cert
                .pem()
        })
        .collect();
    let primary = IotRegistry::for_side(&capture, &direct_topology, Side::Primary);
    let bus = SnsBus::for_replication(&capture, &direct_topology);
    let source = SourceRef::of(&direct_topology, Side::Primary);
    let iot = direct.iot(Side::Primary);
    let mut ids = Vec::new();
    for pem in &pems {
        iot.register_certificate_without_ca()
            .certificate_pem(pem)
            .status(SdkStatus::Active)
            .send()
            .await
            .unwrap();
        let id = CertificatePem::parse(pem).unwrap().id().clone();
        let event = json!({"source": "aws.iot", "detail-type": "AWS API Call via CloudTrail",
            "detail": {"eventName": "RegisterCertificateWithoutCA", "eventTime": "2026-11-22T10:00:00Z",
                       "responseElements": {"certificateId": id.as_str()}}});
        capture_and_publish(&event, &primary, &bus, &source, dr_core::time::now_millis)
            .await
            .unwrap();
        ids.push(id);
    }

    // DR's replicators, every call through the proxy; the quota on DR's registrations.
    let proxy = FaultProxy::start(server.endpoint().as_str(), 10)
        .await
        .unwrap();
    // NO_QUOTA=1 measures the same run without the quota: what the sandbox itself allows.
    let quota = std::env::var("NO_QUOTA").map_or(true, |v| v != "1");
    if quota {
        proxy.set_rules(vec![FaultRule {
            max_per_second: Some(QUOTA_PER_SECOND),
            ..FaultRule::operation("iot", "RegisterCertificateWithoutCA")
        }]);
    }
    let mut behind = sandbox_tests::sandbox_topology(&proxy.url());
    // PACED=0 measures the unpaced replicator (throttling retried with backoff only).
    let paced = quota && std::env::var("PACED").map_or(true, |v| v != "0");
    if paced {
        // A little under the quota: our bucket and AWS's run on different clocks, and a
        // throttled call's retry spends one of AWS's tokens twice.
        behind.replication.register_per_second = Some(QUOTA_PER_SECOND * 0.98);
    }
    let session = AwsSession::connect(&as_function(&behind, "cert-replicator"), "bench").await;
    // Lambda's event source mapping: AWS's own, not behind our faults.
    let sqs = direct.sqs(Side::Dr);
    let queue_url = sandbox_tests::queue_url(&sqs, &names::replication_queue_name(&behind)).await;
    let dr = Arc::new(IotRegistry::replication_target(&session, &behind));
    let ledger = Arc::new(DynamoLedger::new(
        session.dynamodb(Side::Dr),
        behind.replication.ledger_table.as_str(),
    ));
    let rewrite = Arc::new(ArnRewrite::primary_to_dr(&behind));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..APPLY_WORKERS {
        let (sqs, queue_url, dr, ledger, rewrite) = (
            sqs.clone(),
            queue_url.clone(),
            Arc::clone(&dr),
            Arc::clone(&ledger),
            Arc::clone(&rewrite),
        );
        workers.spawn(async move {
            let (mut empty, mut retried, mut rejected) = (0, 0, 0);
            let mut last_applied = Instant::now();
            while empty < 3 {
                match deliver_batch(&sqs, &queue_url, &rewrite, dr.as_ref(), ledger.as_ref()).await
                {
                    Some(report) => {
                        empty = 0;
                        retried += report.retried;
                        rejected += report.rejected;
                        last_applied = Instant::now();
                    }
                    None => empty += 1,
                }
            }
            (retried, rejected, last_applied)
        });
    }
    // Sustained: from the first poll to the last batch applied (not the idle polls after).
    let (mut retried, mut rejected, mut last) = (0, 0, started);
    while let Some(Ok((r, j, last_applied))) = workers.join_next().await {
        retried += r;
        rejected += j;
        last = last.max(last_applied);
    }
    let elapsed = last.duration_since(started).as_secs_f64();

    let mut lost = 0;
    for id in &ids {
        if dr.certificate(id).await.unwrap().is_none() {
            lost += 1;
        }
    }
    let dlq = direct
        .sqs(Side::Dr)
        .get_queue_url()
        .queue_name(names::dead_letter_queue_name(&behind))
        .send()
        .await
        .unwrap();
    let dead = direct
        .sqs(Side::Dr)
        .get_queue_attributes()
        .queue_url(dlq.queue_url().unwrap())
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                .cloned()
        })
        .unwrap_or_default();
    let counts = proxy.counts();
    let register = counts
        .get("iot:RegisterCertificateWithoutCA")
        .cloned()
        .unwrap_or_default();
    println!("\nDR under a RegisterCertificateWithoutCA quota of {}/s (fault proxy), {n} certificates, {APPLY_WORKERS} replicators, {}", if quota { QUOTA_PER_SECOND.to_string() } else { "∞ (NO_QUOTA=1)".to_owned() }, if paced { "registrations paced at the quota ([replication] register_per_second)" } else { "not paced" });
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| sustained rate | {:.2} certificates/s (target ≥ 9.5) |",
        n as f64 / elapsed
    );
    println!("| wall time | {elapsed:.1} s |");
    println!(
        "| registrations forwarded / throttled | {} / {} |",
        register.forwarded, register.throttled
    );
    println!("| messages failed and redelivered / refused | {retried} / {rejected} |");
    println!("| lost (not in DR) | {lost} |");
    println!("| dead-lettered | {dead} |");
    server.stop().await.unwrap();
}
