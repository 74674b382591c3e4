//! Device shadow replication at a steady rate: N shadow updates in primary (one thing
//! each, `DRCTL_BENCH_SHADOW_UPDATES`, default 200) at `DRCTL_BENCH_SHADOW_RATE` per second
//! (default 10), each captured from its documents event and published as the topic rule and
//! capture Lambda would, applied by one replicator polling the queue; the lag is from the
//! update's return in primary to DR's shadow holding it (polled). Prints calls per update
//! on each side and lag p50/p99/max. Capture and apply run in-process under their Lambdas'
//! roles: no IoT rule, no Lambda start-up (add those in AWS). A timed harness.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_iotdataplane::primitives::Blob;
use dr_aws::bus::SnsBus;
use dr_aws::iot::IotRegistry;
use dr_aws::ledger::DynamoLedger;
use dr_aws::{names, AwsSession};
use dr_core::replication::message::SourceRef;
use dr_core::replication::service::capture_and_publish;
use dr_core::replication::{ArnRewrite, ShadowStore};
use dr_core::Side;
use dr_sandbox::identity::{as_admin, as_function};
use dr_sandbox::{LauncherPaths, SandboxServer};
use sandbox_tests::deliver_batch;
use serde_json::{json, Value};

fn env_or(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let updates = env_or("DRCTL_BENCH_SHADOW_UPDATES", 200.0) as usize;
    let rate = env_or("DRCTL_BENCH_SHADOW_RATE", 10.0);
    let log = std::env::temp_dir().join(format!("drctl-bench-shadows-{}.log", std::process::id()));
    let server = SandboxServer::start(&LauncherPaths::from_build(), &log)
        .await
        .expect("the sandbox starts (run `make setup`)");
    let t = sandbox_tests::sandbox_topology(server.endpoint().as_str());
    dr_sandbox::provision(&t).await.unwrap();
    let admin = AwsSession::connect(&as_admin(&t), "bench").await;
    let capture = AwsSession::connect(&as_function(&t, "cert-capture"), "bench").await;
    let replicator = AwsSession::connect(&as_function(&t, "cert-replicator"), "bench").await;
    let primary_registry = IotRegistry::for_side(&capture, &t, Side::Primary);
    let dr = Arc::new(IotRegistry::replication_target(&replicator, &t));
    let bus = SnsBus::for_replication(&capture, &t);
    let ledger = Arc::new(DynamoLedger::new(
        replicator.dynamodb(Side::Dr),
        t.replication.ledger_table.as_str(),
    ));
    let rewrite = Arc::new(ArnRewrite::primary_to_dr(&t));
    let sqs = admin.sqs(Side::Dr);
    let queue_url = sandbox_tests::queue_url(&sqs, &names::shadow_queue_name(&t)).await;
    let source = SourceRef::of(&t, Side::Primary);
    // The things, in both registries (a shadow's thing replicates first; not timed).
    let things: Vec<String> = (0..updates)
        .map(|i| format!("shadow-bench-{i:04}"))
        .collect();
    for side in [Side::Primary, Side::Dr] {
        for thing in &things {
            admin
                .iot(side)
                .create_thing()
                .thing_name(thing)
                .send()
                .await
                .unwrap();
        }
    }
    let data = admin.iot_data(Side::Primary);

    // The event source mapping: one replicator, polling until told to stop.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let consumer = {
        let (sqs, queue_url, dr, ledger, rewrite, done) = (
            sqs.clone(),
            queue_url.clone(),
            Arc::clone(&dr),
            Arc::clone(&ledger),
            Arc::clone(&rewrite),
            Arc::clone(&done),
        );
        tokio::spawn(async move {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if deliver_batch(&sqs, &queue_url, &rewrite, dr.as_ref(), ledger.as_ref())
                    .await
                    .is_none()
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        })
    };
    let dr_calls_before = dr.calls();
    let started = Instant::now();
    // When each update was made in primary, and when DR first showed it: a watcher of its
    // own (apart from the replicator's calls), polling only what is sent and not yet seen.
    let sent: Arc<std::sync::Mutex<Vec<Option<Instant>>>> =
        Arc::new(std::sync::Mutex::new(vec![None; updates]));
    let watcher = {
        let (sent, things) = (Arc::clone(&sent), things.clone());
        let watcher = IotRegistry::for_side(&admin, &t, Side::Dr);
        tokio::spawn(async move {
            let mut lags = vec![None; things.len()];
            while lags.iter().any(Option::is_none) {
                let pending: Vec<(usize, Instant)> = {
                    let sent = sent.lock().unwrap();
                    (0..things.len())
                        .filter(|&i| lags[i].is_none())
                        .filter_map(|i| sent[i].map(|at| (i, at)))
                        .collect()
                };
                if pending.is_empty() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                for (i, at) in pending {
                    let doc = watcher
                        .shadow(&things[i].parse().unwrap(), None)
                        .await
                        .unwrap();
                    if doc
                        .and_then(|d| d.state.desired)
                        .is_some_and(|d| d["hr_high"] == json!(100 + i))
                    {
                        lags[i] = Some(at.elapsed());
                    }
                }
                assert!(
                    started.elapsed() < Duration::from_secs(600),
                    "shadows did not reach DR within 10 minutes"
                );
            }
            lags.into_iter()
                .map(Option::unwrap)
                .collect::<Vec<Duration>>()
        })
    };
    for (i, thing) in things.iter().enumerate() {
        let due = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        data.update_thing_shadow()
            .thing_name(thing)
            .payload(Blob::new(
                json!({"state": {"desired": {"hr_high": 100 + i}}}).to_string(),
            ))
            .send()
            .await
            .unwrap();
        let at = Instant::now();
        let got = data
            .get_thing_shadow()
            .thing_name(thing)
            .send()
            .await
            .unwrap();
        let mut current: Value = serde_json::from_slice(got.payload().unwrap().as_ref()).unwrap();
        let timestamp = current["timestamp"].clone();
        current.as_object_mut().unwrap().remove("timestamp");
        let event = json!({"previous": null, "current": current, "timestamp": timestamp,
            "topic": format!("$aws/things/{thing}/shadow/update/documents")});
        capture_and_publish(
            &event,
            &primary_registry,
            &bus,
            &source,
            dr_core::time::now_millis,
        )
        .await
        .unwrap();
        sent.lock().unwrap()[i] = Some(at);
    }
    let mut lags = watcher.await.unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    consumer.await.unwrap();
    lags.sort();
    let pct = |p: f64| lags[((lags.len() as f64 * p).ceil() as usize).clamp(1, lags.len()) - 1];
    println!("| shadow updates | rate | primary IoT calls / update | DR IoT calls / update | lag p50 | lag p99 | lag max |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {updates} | {rate}/s | {:.1} | {:.1} | {:.0} ms | {:.0} ms | {:.0} ms |",
        primary_registry.calls() as f64 / updates as f64,
        (dr.calls() - dr_calls_before) as f64 / updates as f64,
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        lags.last().unwrap().as_secs_f64() * 1000.0,
    );
    server.stop().await.unwrap();
}
