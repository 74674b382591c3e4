//! A revocation's lag under a shadow flood, with shadows on the registry's lane (one FIFO
//! topic and queue for everything, as before) and on their own lane (as deployed).
//!
//! Shadow messages for `DRCTL_BENCH_FLOOD_THINGS` things (default 50) are published at
//! `DRCTL_BENCH_FLOOD_RATE` per second (default 300: a FIFO queue's SendMessage quota
//! without batching) for `DRCTL_BENCH_FLOOD_SECONDS` (default 5), by publishers running
//! concurrently as capture invocations would; meanwhile `DRCTL_BENCH_REVOCATIONS`
//! certificates (default 8, spread over the flood) are revoked in primary and captured from
//! their CloudTrail event. One replicator per queue applies what arrives (the DR stack's
//! event source mappings: one per lane). The lag is from UpdateCertificate's return in
//! primary to DR reporting REVOKED (polled apart from the replicator). Capture and apply run
//! in-process under their Lambdas' roles. The sandbox does not throttle at AWS's FIFO
//! quotas; the backlog a flood leaves comes from the replicator applying slower than the
//! flood arrives, as in AWS when the flood exceeds what DR's shadow and ledger calls take.
//! A timed harness: prints a table.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dr_aws::bus::SnsBus;
use dr_aws::iot::IotRegistry;
use dr_aws::ledger::DynamoLedger;
use dr_aws::{names, AwsSession};
use dr_core::replication::message::{SourceRef, SCHEMA_VERSION};
use dr_core::replication::ports::ReplicationBus;
use dr_core::replication::records::ShadowUpdate;
use dr_core::replication::service::capture_and_publish;
use dr_core::replication::shadow::{ShadowDocument, ShadowState};
use dr_core::replication::{ArnRewrite, CertificateRegistry, Lane, ReplicationMessage, Subject};
use dr_core::{CertificateStatus, Side, Topology};
use dr_sandbox::devices::Device;
use dr_sandbox::identity::{as_admin, as_function};
use dr_sandbox::{LauncherPaths, SandboxServer};
use sandbox_tests::deliver_batch;
use serde_json::json;

fn env_or(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What one run measured.
struct Run {
    lags: Vec<Duration>,
    shadows_published: usize,
    flood_took: Duration,
}

#[tokio::main]
async fn main() {
    let log =
        std::env::temp_dir().join(format!("drctl-bench-revocation-{}.log", std::process::id()));
    let server = SandboxServer::start(&LauncherPaths::from_build(), &log)
        .await
        .expect("the sandbox starts (run `make setup`)");
    let mut rows = Vec::new();
    for one_lane in [true, false] {
        let mut t = sandbox_tests::sandbox_topology(server.endpoint().as_str());
        // Fresh queues and ledger per run: nothing left over from the other.
        let prefix = if one_lane { "one-lane" } else { "two-lanes" };
        t.replication.topic = format!("{prefix}-topic").parse().unwrap();
        t.replication.queue = format!("{prefix}-queue").parse().unwrap();
        t.replication.shadow_topic = format!("{prefix}-shadow-topic").parse().unwrap();
        t.replication.shadow_queue = format!("{prefix}-shadow-queue").parse().unwrap();
        t.replication.dead_letter_queue = format!("{prefix}-dlq").parse().unwrap();
        t.replication.ledger_table = format!("{prefix}-ledger").parse().unwrap();
        dr_sandbox::provision(&t).await.unwrap();
        let run = run(&t, one_lane).await;
        rows.push((one_lane, run));
    }
    println!("| lanes | shadow messages | flood rate achieved | revocations | lag p50 | lag p99 | lag max |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (one_lane, mut run) in rows {
        run.lags.sort();
        let lags = &run.lags;
        let pct = |p: f64| lags[((lags.len() as f64 * p).ceil() as usize).clamp(1, lags.len()) - 1];
        println!(
            "| {} | {} | {:.0}/s | {} | {:.0} ms | {:.0} ms | {:.0} ms |",
            if one_lane {
                "one (shadows with revocations)"
            } else {
                "two (shadows apart)"
            },
            run.shadows_published,
            run.shadows_published as f64 / run.flood_took.as_secs_f64(),
            lags.len(),
            pct(0.50).as_secs_f64() * 1000.0,
            pct(0.99).as_secs_f64() * 1000.0,
            lags.last().unwrap().as_secs_f64() * 1000.0,
        );
    }
    server.stop().await.unwrap();
}

async fn run(t: &Topology, one_lane: bool) -> Run {
    let things_n = env_or("DRCTL_BENCH_FLOOD_THINGS", 50.0) as usize;
    let rate = env_or("DRCTL_BENCH_FLOOD_RATE", 300.0);
    let seconds = env_or("DRCTL_BENCH_FLOOD_SECONDS", 5.0);
    let revocations = env_or("DRCTL_BENCH_REVOCATIONS", 8.0) as usize;
    let admin = AwsSession::connect(&as_admin(t), "bench").await;
    let capture = AwsSession::connect(&as_function(t, "cert-capture"), "bench").await;
    let replicator = AwsSession::connect(&as_function(t, "cert-replicator"), "bench").await;
    let primary = Arc::new(IotRegistry::for_side(&capture, t, Side::Primary));
    let dr = Arc::new(IotRegistry::replication_target(&replicator, t));
    let registry_topic = names::lane_topic_arn(t, Lane::Registry);
    let bus = Arc::new(if one_lane {
        // Everything on the registry's topic: shadows and revocations share one lane.
        SnsBus::new(
            aws_sdk_sns::Client::new(&capture.config_in(Side::Primary, &t.dr.region)),
            registry_topic.clone(),
            registry_topic,
        )
    } else {
        SnsBus::for_replication(&capture, t)
    });
    let ledger = Arc::new(DynamoLedger::new(
        replicator.dynamodb(Side::Dr),
        t.replication.ledger_table.as_str(),
    ));
    let rewrite = Arc::new(ArnRewrite::primary_to_dr(t));
    let source = SourceRef::of(t, Side::Primary);
    let sqs = admin.sqs(Side::Dr);

    // Not timed: the flood's things in both registries, the certificates in primary.
    let things: Vec<String> = (0..things_n).map(|i| format!("flood-{i:03}")).collect();
    for side in [Side::Primary, Side::Dr] {
        for thing in &things {
            let _ = admin
                .iot(side)
                .create_thing()
                .thing_name(thing)
                .send()
                .await;
        }
    }
    let prefix = if one_lane { "one" } else { "two" };
    let devices: Vec<Device> = (0..revocations)
        .map(|i| Device::self_signed(&format!("revoked-{prefix}-{i}")))
        .collect();
    for device in &devices {
        admin
            .iot(Side::Primary)
            .register_certificate_without_ca()
            .certificate_pem(&device.pem)
            .status(aws_sdk_iot::types::CertificateStatus::Active)
            .send()
            .await
            .unwrap();
    }

    // The event source mappings: one replicator per queue.
    let done = Arc::new(AtomicBool::new(false));
    let lanes: &[Lane] = if one_lane {
        &[Lane::Registry]
    } else {
        &Lane::ALL
    };
    let mut consumers = Vec::new();
    for lane in lanes {
        let queue_url = sandbox_tests::queue_url(&sqs, &names::lane_queue_name(t, *lane)).await;
        let (sqs, dr, ledger, rewrite, done) = (
            sqs.clone(),
            Arc::clone(&dr),
            Arc::clone(&ledger),
            Arc::clone(&rewrite),
            Arc::clone(&done),
        );
        consumers.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if deliver_batch(&sqs, &queue_url, &rewrite, dr.as_ref(), ledger.as_ref())
                    .await
                    .is_none()
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }

    // The flood: shadow documents messages, paced at `rate`, from concurrent publishers.
    let total = (rate * seconds) as usize;
    let started = Instant::now();
    let flood = {
        let (bus, source, things) = (Arc::clone(&bus), source.clone(), things.clone());
        tokio::spawn(async move {
            let publishers = 16;
            let mut tasks = Vec::new();
            for p in 0..publishers {
                let (bus, source, things) = (Arc::clone(&bus), source.clone(), things.clone());
                tasks.push(tokio::spawn(async move {
                    for n in (p..total).step_by(publishers) {
                        let due = started + Duration::from_secs_f64(n as f64 / rate);
                        tokio::time::sleep_until(due.into()).await;
                        let message = shadow_message(&source, &things[n % things.len()], n);
                        bus.publish(&message).await.unwrap();
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
            started.elapsed()
        })
    };

    // The revocations, spread over the flood; each watched in DR apart from the replicator.
    let watcher = Arc::new(IotRegistry::for_side(&admin, t, Side::Dr));
    let mut watches = Vec::new();
    for (i, device) in devices.iter().enumerate() {
        let due =
            started + Duration::from_secs_f64(seconds * (i as f64 + 0.5) / revocations as f64);
        tokio::time::sleep_until(due.into()).await;
        admin
            .iot(Side::Primary)
            .update_certificate()
            .certificate_id(device.id.as_str())
            .new_status(aws_sdk_iot::types::CertificateStatus::Revoked)
            .send()
            .await
            .unwrap();
        let revoked_at = Instant::now();
        let event = cloudtrail_revocation(device.id.as_str());
        capture_and_publish(
            &event,
            primary.as_ref(),
            bus.as_ref(),
            &source,
            dr_core::time::now_millis,
        )
        .await
        .unwrap();
        let (watcher, id) = (Arc::clone(&watcher), device.id.clone());
        watches.push(tokio::spawn(async move {
            loop {
                let status = watcher.certificate(&id).await.unwrap().map(|c| c.status);
                if status == Some(CertificateStatus::Revoked) {
                    return revoked_at.elapsed();
                }
                assert!(
                    revoked_at.elapsed() < Duration::from_secs(900),
                    "revocation never reached DR"
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }));
    }
    let flood_took = flood.await.unwrap();
    let mut lags = Vec::new();
    for watch in watches {
        lags.push(watch.await.unwrap());
    }
    done.store(true, Ordering::Relaxed);
    for consumer in consumers {
        consumer.await.unwrap();
    }
    Run {
        lags,
        shadows_published: total,
        flood_took,
    }
}

/// The documents message of the `n`th update of `thing`'s classic shadow.
fn shadow_message(source: &SourceRef, thing: &str, n: usize) -> ReplicationMessage {
    let now = dr_core::time::now_millis();
    let state = |v: usize| ShadowState {
        desired: None,
        reported: Some(json!({"heart_rate": 60 + v % 60})),
    };
    ReplicationMessage {
        schema_version: SCHEMA_VERSION,
        source: source.clone(),
        cause: "shadow-update".to_owned(),
        event_time_ms: now,
        observed_at_ms: now,
        subject: Subject::Shadow(Box::new(ShadowUpdate {
            thing_name: thing.parse().unwrap(),
            shadow_name: None,
            previous: None,
            current: ShadowDocument {
                state: state(n),
                version: n as u64 + 1,
                timestamp: now / 1000,
                ..ShadowDocument::default()
            },
        })),
    }
}

/// UpdateCertificate(REVOKED) as EventBridge delivers its CloudTrail record.
fn cloudtrail_revocation(certificate_id: &str) -> serde_json::Value {
    json!({
        "version": "0",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iot",
        "account": "111111111111",
        "time": "2026-12-06T00:00:00Z",
        "region": "us-east-1",
        "detail": {
            "eventSource": "iot.amazonaws.com",
            "eventName": "UpdateCertificate",
            "eventTime": "2026-12-06T00:00:00Z",
            "requestParameters": {"certificateId": certificate_id, "newStatus": "REVOKED"},
            "responseElements": null
        }
    })
}
