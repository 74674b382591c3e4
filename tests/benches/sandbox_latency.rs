//! Baseline figures of the local sandbox, the yardstick for every pipeline benchmark:
//! how long the moto server takes to start, how long the first AssumeRole'd call takes,
//! and the latency and rate of plain API calls through the session layer.
//!
//! A timed harness (no assertions): `make bench` prints the table.

use std::time::{Duration, Instant};

use dr_aws::AwsSession;
use dr_core::{Side, Topology};
use dr_sandbox::{LauncherPaths, SandboxServer};

const CALLS: usize = 300;

#[tokio::main]
async fn main() {
    let log = std::env::temp_dir().join(format!("drctl-bench-{}.log", std::process::id()));

    let started = Instant::now();
    let server = SandboxServer::start(&LauncherPaths::from_build(), &log)
        .await
        .expect("the sandbox starts (run `make setup`)");
    let startup = started.elapsed();

    let topology = Topology::parse(
        include_str!("../../config/sandbox.toml"),
        "config/sandbox.toml",
        [(
            "DRCTL__SANDBOX__ENDPOINT".to_owned(),
            server.endpoint().as_str().to_owned(),
        )],
    )
    .expect("the sandbox config is valid");
    // The first call includes AssumeRole; the administrator's, like any principal's.
    let session = AwsSession::connect(&dr_sandbox::identity::as_admin(&topology), "bench").await;

    let first = Instant::now();
    session
        .sts(Side::Primary)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    let first_call = first.elapsed();

    let mut identity = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        session
            .sts(Side::Dr)
            .get_caller_identity()
            .send()
            .await
            .unwrap();
        identity.push(t.elapsed());
    }

    let iot = session.iot(Side::Primary);
    let mut create_thing = Vec::with_capacity(CALLS);
    let run = Instant::now();
    for i in 0..CALLS {
        let t = Instant::now();
        iot.create_thing()
            .thing_name(format!("bench-thing-{i}"))
            .send()
            .await
            .unwrap();
        create_thing.push(t.elapsed());
    }
    let create_rate = CALLS as f64 / run.elapsed().as_secs_f64();

    server.stop().await.expect("the sandbox stops");

    println!("sandbox latency (moto server on loopback, debug build, {CALLS} calls each)");
    println!("| measure | value |");
    println!("|---|---|");
    println!("| server start to healthy | {} |", ms(startup));
    println!("| first call incl. AssumeRole | {} |", ms(first_call));
    row("GetCallerIdentity", &mut identity);
    row("IoT CreateThing", &mut create_thing);
    println!("| IoT CreateThing rate, sequential | {create_rate:.0}/s |");
}

fn row(name: &str, samples: &mut [Duration]) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!("| {name} p50 | {} |", ms(pick(0.5)));
    println!("| {name} p99 | {} |", ms(pick(0.99)));
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
