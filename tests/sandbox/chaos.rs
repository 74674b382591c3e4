//! Chaos: the replication pipeline under AWS's bad days, injected by the fault proxy
//! (`dr_sandbox::fault_proxy`) between the code under test and the sandbox. Nothing may be
//! lost and nothing transient may reach the DLQ.
//!
//! Sizes: `DRCTL_CHAOS_CERTIFICATES` (default 100 in `make test`; `make chaos` runs the
//! issue's 2,000).

use std::time::{Duration, Instant};

use aws_sdk_iot::types::CertificateStatus as SdkStatus;
use dr_core::replication::service::BatchReport;
use dr_core::replication::CertificateRegistry;
use dr_core::{CertificateStatus, Side};
use dr_sandbox::fault_proxy::{FaultProxy, FaultRule};
use serde_json::json;

use crate::helpers::{shared_endpoint, shared_session, unique};
use crate::pipeline::{Device, Pipeline};

fn certificates() -> usize {
    std::env::var("DRCTL_CHAOS_CERTIFICATES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100)
}

/// A pipeline whose every SDK call goes through a fault proxy in front of the shared
/// sandbox, except the harness's SQS client: it plays Lambda's event source mapping, which
/// is AWS's own and does not meet our faults (its DeleteMessageBatch once gave up during
/// the 10 s outage and failed the test, where AWS would have retried).
async fn pipeline_behind_proxy(seed: u64) -> (Pipeline, FaultProxy) {
    let proxy = FaultProxy::start(shared_endpoint().as_str(), seed)
        .await
        .unwrap();
    let endpoint: dr_core::Endpoint = proxy.url().parse().unwrap();
    let mut pipeline = Pipeline::on(&endpoint).await;
    pipeline.sqs = shared_session().await.0.sqs(Side::Dr);
    (pipeline, proxy)
}

/// Register `device` in primary and capture it, retrying the capture as EventBridge
/// retries a failed asynchronous invocation. Returns the capture attempts it took.
async fn register_and_capture(p: &Pipeline, device: &Device) -> usize {
    p.session
        .iot(Side::Primary)
        .register_certificate_without_ca()
        .certificate_pem(&device.pem)
        .status(SdkStatus::Active)
        .send()
        .await
        .expect("RegisterCertificateWithoutCA in primary (retried by the SDK)");
    let event = crate::replication::cloudtrail(
        "RegisterCertificateWithoutCA",
        json!({}),
        json!({"certificateId": device.id.as_str()}),
    );
    for attempt in 1..=5 {
        match dr_core::replication::service::capture_and_publish(
            &event,
            &p.primary,
            &p.bus,
            &p.source(),
            dr_core::time::now_millis,
        )
        .await
        {
            Ok(_) => return attempt,
            Err(error) => {
                eprintln!("capture attempt {attempt} failed (EventBridge retries): {error}")
            }
        }
    }
    panic!("capture failed 5 times for {}", device.id);
}

/// How many captures run at once: EventBridge invokes the capture Lambda once per event,
/// concurrently, so the test does too (and 2,000 certificates take minutes, not an hour).
const CONCURRENT_CAPTURES: usize = 8;

/// Register and capture every device, `CONCURRENT_CAPTURES` at a time. Returns how many
/// capture attempts had to be retried.
async fn register_and_capture_all(p: &Pipeline, devices: &[Device]) -> usize {
    use futures_util::StreamExt;
    futures_util::stream::iter(devices)
        .map(|device| register_and_capture(p, device))
        .buffer_unordered(CONCURRENT_CAPTURES)
        .map(|attempts| attempts - 1)
        .fold(0, |total, retries| async move { total + retries })
        .await
}

async fn assert_all_active_in_dr(p: &Pipeline, devices: &[Device]) {
    for device in devices {
        let dr = p.dr.certificate(&device.id).await.unwrap();
        let dr = dr.unwrap_or_else(|| panic!("{} lost: not in DR", device.id));
        assert_eq!(dr.status, CertificateStatus::Active, "{}", device.id);
        assert_eq!(dr.pem, device.pem);
    }
}

fn summary(report: &BatchReport) -> String {
    format!(
        "applied {} stale {} rejected {} retried {} failed {}",
        report.applied,
        report.stale,
        report.rejected,
        report.retried,
        report.failed.len()
    )
}

/// Every service's throttling error, in the shape that service answers, is retried by our
/// clients rather than failing the call: SNS's `Throttled` (an HTTP 429 the SDK's own
/// classifiers let through, which would fail a capture's publish), DynamoDB's
/// `ProvisionedThroughputExceededException` on the ledger's items, SQS's `RequestThrottled`
/// and IoT's `ThrottlingException`.
#[tokio::test]
async fn every_service_s_own_throttling_error_is_retried() {
    let (p, proxy) = pipeline_behind_proxy(0x7411).await;
    let throttled = |service: &str| FaultRule {
        throttle: 0.3,
        ..FaultRule::service(service)
    };
    proxy.set_rules(["sns", "dynamodb", "sqs", "iot"].map(throttled).to_vec());
    let sns = p.session.sns(Side::Dr);
    let dynamodb = p.session.dynamodb(Side::Dr);
    let sqs = p.session.sqs(Side::Dr);
    let iot = p.session.iot(Side::Primary);
    let topic = dr_aws::names::replication_topic_arn(&p.topology);
    for n in 0..20 {
        sns.publish()
            .topic_arn(&topic)
            .message(format!("{{\"probe\":{n}}}"))
            .message_group_id("throttling-probe")
            .message_deduplication_id(unique("probe"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("SNS Publish {n}: {e:?}"));
        dynamodb
            .get_item()
            .table_name(p.topology.replication.ledger_table.as_str())
            .key(
                "subject",
                aws_sdk_dynamodb::types::AttributeValue::S("throttling-probe".into()),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("DynamoDB GetItem {n}: {e:?}"));
        sqs.get_queue_attributes()
            .queue_url(&p.queue_url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("SQS GetQueueAttributes {n}: {e:?}"));
        iot.list_certificates()
            .page_size(1)
            .send()
            .await
            .unwrap_or_else(|e| panic!("IoT ListCertificates {n}: {e:?}"));
    }
    let counts = proxy.counts();
    for key in [
        "sns:Publish",
        "dynamodb:GetItem",
        "sqs:GetQueueAttributes",
        "iot:ListCertificates",
    ] {
        let throttled = counts.get(key).map_or(0, |c| c.throttled);
        assert!(throttled > 0, "{key} was never throttled: {counts:?}");
    }
}

#[tokio::test]
async fn thirty_percent_throttling_and_ten_percent_5xx_lose_nothing_and_fill_no_dlq() {
    let (p, proxy) = pipeline_behind_proxy(0xc4a05).await;
    let n = certificates();
    // Faults on everything the capture and replicator call; SQS is left alone because the
    // harness plays Lambda's event source mapping, which is AWS's side.
    proxy.set_rules(
        ["iot", "sns", "dynamodb"]
            .iter()
            .map(|service| FaultRule {
                throttle: 0.30,
                server_error: 0.10,
                ..FaultRule::service(service)
            })
            .collect(),
    );
    let started = Instant::now();
    let devices: Vec<Device> = (0..n)
        .map(|_| Device::self_signed(&unique("chaos")))
        .collect();
    let capture_retries = register_and_capture_all(&p, &devices).await;
    let report = p.drain().await;
    let elapsed = started.elapsed();
    proxy.set_rules(Vec::new());

    assert_all_active_in_dr(&p, &devices).await;
    assert!(
        p.dead_letters().await.is_empty(),
        "transient errors reached the DLQ"
    );
    let counts = proxy.counts();
    let throttled: u64 = counts.values().map(|c| c.throttled).sum();
    let server_errors: u64 = counts.values().map(|c| c.server_errors).sum();
    let forwarded: u64 = counts.values().map(|c| c.forwarded).sum();
    assert!(
        throttled > n as u64 && server_errors > n as u64 / 4,
        "the faults happened: {counts:#?}"
    );
    eprintln!(
        "chaos throttling: {n} certificates in {:.1} s ({:.2}/s); {throttled} throttled, {server_errors} 5xx, {forwarded} forwarded; capture retried {capture_retries} times; replicator: {}",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        summary(&report)
    );
}

#[tokio::test]
async fn the_pipeline_resumes_after_the_sandbox_is_unreachable_for_ten_seconds() {
    let (p, proxy) = pipeline_behind_proxy(0xd0a1).await;
    let n = certificates().min(100);
    let devices: Vec<Device> = (0..n)
        .map(|_| Device::self_signed(&unique("outage")))
        .collect();
    register_and_capture_all(&p, &devices[..n / 2]).await;
    // Mid-run: nothing answers for ten seconds — neither the capture's reads and publishes
    // nor the replicator's writes. The SDK's retries (backoff up to 20 s) outlast it.
    let outage = {
        let down = std::sync::Arc::new(proxy);
        let during = std::sync::Arc::clone(&down);
        let task = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            during.set_down(true);
            tokio::time::sleep(Duration::from_secs(10)).await;
            during.set_down(false);
        });
        (down, task)
    };
    let first = p.drain().await;
    register_and_capture_all(&p, &devices[n / 2..]).await;
    outage.1.await.unwrap();
    let second = p.drain().await;

    assert_all_active_in_dr(&p, &devices).await;
    assert!(
        p.dead_letters().await.is_empty(),
        "the outage reached the DLQ"
    );
    let dropped: u64 = outage.0.counts().values().map(|c| c.dropped).sum();
    assert!(dropped > 0, "the outage happened: {:#?}", outage.0.counts());
    eprintln!(
        "chaos outage: {n} certificates, {dropped} requests dropped during 10 s; replicator {} / {}",
        summary(&first),
        summary(&second)
    );
}

#[tokio::test]
async fn killing_the_replicator_twenty_times_mid_burst_loses_nothing() {
    use dr_sandbox::local_lambda::SqsEventSource;

    let p = Pipeline::new().await;
    let n = certificates();
    // Crashed batches come back after the visibility timeout; 2 s keeps the test short.
    p.sqs
        .set_queue_attributes()
        .queue_url(&p.queue_url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "2",
        )
        .send()
        .await
        .unwrap();
    let devices: Vec<Device> = (0..n)
        .map(|_| Device::self_signed(&unique("crash")))
        .collect();
    register_and_capture_all(&p, &devices).await;
    let mut replicator = crate::e2e::lambda_paths()
        .start("cert-replicator", &p.topology, &crate::e2e::lambda_env(&p))
        .await
        .unwrap();
    let queue = dr_aws::names::replication_queue_name(&p.topology);
    let source = SqsEventSource {
        sqs: p.sqs.clone(),
        queue_url: p.queue_url.clone(),
        queue_arn: dr_aws::names::dr_queue_arn(&p.topology, &queue),
        region: p.topology.dr.region.as_str().to_owned(),
        retry_failures_at_once: false,
    };
    // Twenty kills spread over the burst, each while the function is applying a batch it
    // received: the kill only counts when the delivery had not finished by then.
    let batches = n.div_ceil(10).max(20);
    let every = (batches / 20).max(1);
    let (mut crashes, mut polls, mut too_late) = (0, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(60 + n as u64);
    while crashes < 20 || queued(&p).await > 0 {
        assert!(
            Instant::now() < deadline,
            "gave up: {crashes} crashes, {polls} polls"
        );
        polls += 1;
        let batch = match source.receive(&replicator).await {
            Ok(batch) if !batch.is_empty() => batch,
            _ => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let delivery = source.deliver(&batch, &replicator);
        if crashes < 20 && polls % every == 0 {
            // kill -9 10–55 ms into the invocation; its messages stay in flight on the
            // queue and come back after the visibility timeout.
            let into_the_invocation = Duration::from_millis(10 + 5 * (crashes as u64 % 10));
            tokio::select! {
                biased;
                _ = delivery => too_late += 1,
                () = tokio::time::sleep(into_the_invocation) => {
                    replicator.crash_and_restart().await.unwrap();
                    crashes += 1;
                }
            }
            continue;
        }
        // The emulator may answer an invocation whose process died with an error, or not
        // at all; either way the messages come back after the visibility timeout.
        let _ = tokio::time::timeout(Duration::from_secs(20), delivery).await;
    }
    assert_eq!(crashes, 20);
    assert_all_active_in_dr(&p, &devices).await;
    assert!(p.dead_letters().await.is_empty(), "crashes reached the DLQ");
    eprintln!("chaos kill -9: {n} certificates, 20 crashes mid-invocation over {polls} polls ({too_late} batches finished before their kill was due); DR equals primary");
}

/// Messages on the replication queue, visible or in flight.
async fn queued(p: &Pipeline) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let attributes = p
        .sqs
        .get_queue_attributes()
        .queue_url(&p.queue_url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let count = |name: A| {
        attributes
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    count(A::ApproximateNumberOfMessages) + count(A::ApproximateNumberOfMessagesNotVisible)
}
