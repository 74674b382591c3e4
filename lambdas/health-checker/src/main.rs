//! health-checker (DR, scheduled every minute): one invocation of flow D's use case
//! ([`dr_core::failover::run_rounds`]): probe rounds of primary, each folded into the
//! fenced failover state, the failover runbook run when it decides so. Every call on that
//! path is in the DR region's data plane; nothing waits on primary's region or Route 53's
//! control plane, cold start included.

use std::time::Duration;

use anyhow::Context;
use dr_aws::failover::FailoverPorts;
use dr_aws::probes::Probes;
use dr_aws::{runtime, AwsSession};
use dr_core::failover::{self, Rounds};
use dr_core::time::SystemClock;
use dr_core::Topology;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

struct Deps {
    session: AwsSession,
    topology: Topology,
    probes: Probes,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_json_tracing();
    let topology = runtime::topology_from_env().context("health-checker configuration")?;
    let session = AwsSession::connect(&topology, "health-checker").await;
    let probes = Probes::of(&topology, &session)?;
    // The switch's setup (alarm, health check, records) is verified in the background and
    // only while nothing is at stake: its calls are Route 53's control plane (us-east-1).
    let (background, config) = (session.clone(), topology.clone());
    tokio::spawn(async move {
        let ports = FailoverPorts::new(&background, &config);
        let verdict =
            failover::verify_switch_when_calm(&ports.store, &ports.switch, Duration::from_secs(30))
                .await;
        tracing::info!("{verdict}");
    });
    let deps = Deps {
        session,
        topology,
        probes,
    };
    run(service_fn(|event: LambdaEvent<Value>| {
        handler(event, &deps)
    }))
    .await
}

async fn handler(event: LambdaEvent<Value>, deps: &Deps) -> Result<Value, Error> {
    let settings = &deps.topology.failover;
    let rounds = Rounds {
        per_invocation: settings.rounds_per_invocation,
        interval: Duration::from_secs(settings.round_interval_seconds),
        deadline: runtime::invocation_deadline(event.context.deadline, Duration::from_secs(60)),
    };
    let ports = FailoverPorts::new(&deps.session, &deps.topology);
    let report =
        failover::run_rounds(&ports.controller(), &deps.probes, rounds, &SystemClock).await;
    let failed = report.failed().map(str::to_owned);
    Ok(runtime::finish("health-checker", &report, failed)?)
}
