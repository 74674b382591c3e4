//! Flow D's fencing under a bad network: the state table reached through a test's own
//! fault proxy, whose "forward, then drop the reply" rule loses the answer of a write that
//! DynamoDB made; and two invocations continuing one runbook at once.

use std::sync::Arc;

use dr_aws::failover::DynamoStateStore;
use dr_aws::probes::{run_round, Probe};
use dr_core::failover::{
    AuditEntry, Controller, DatabaseRecovery, Decision, FailoverError, FailoverRecord, Readiness,
    Runbook, StateStore, Step, Stored, TrafficSwitch,
};
use dr_core::port::PortError;
use dr_core::{FlipMode, Side};
use dr_sandbox::fault_proxy::{FaultProxy, FaultRule};
use serde_json::json;

use crate::failover::World;
use crate::helpers::shared_endpoint;
use crate::primary_endpoint::PrimaryEndpoint;

/// A world behind a fault proxy of the test's own, with primary's endpoint stopped, and
/// the health checker's probes.
async fn world_behind_proxy() -> (World, FaultProxy, PrimaryEndpoint, Vec<Arc<Probe>>) {
    let proxy = FaultProxy::start(shared_endpoint().as_str(), 29)
        .await
        .unwrap();
    let sandbox: dr_core::Endpoint = proxy.url().parse().unwrap();
    let mut endpoint = PrimaryEndpoint::start().await;
    let world = World::protecting_on(&sandbox, &endpoint, FlipMode::DataPlane, None).await;
    let probes = Probe::all(&world.topology, &world.checker)
        .unwrap()
        .into_iter()
        .map(Arc::new)
        .collect();
    endpoint.stop().await;
    (world, proxy, endpoint, probes)
}

fn failed_over_pages(notifications: &[String]) -> usize {
    notifications
        .iter()
        .filter(|n| n.contains("FAILED OVER"))
        .count()
}

/// Both racing invocations read the state before either writes.
struct RacingStore<'a> {
    inner: &'a DynamoStateStore,
    barrier: tokio::sync::Barrier,
}

impl StateStore for RacingStore<'_> {
    async fn load(&self) -> Result<Option<Stored>, PortError> {
        let stored = self.inner.load().await;
        self.barrier.wait().await;
        stored
    }

    async fn save(&self, record: &FailoverRecord, expected: u64) -> Result<bool, PortError> {
        self.inner.save(record, expected).await
    }

    async fn audit(&self, entry: &AuditEntry) -> Result<(), PortError> {
        self.inner.audit(entry).await
    }
}

/// Restores that never become available: the failover runbook stays pending, as it does
/// for the tens of minutes RDS takes.
struct SlowRestore;

impl DatabaseRecovery for SlowRestore {
    async fn start(&self, _runbook: &str) -> Vec<String> {
        vec!["fleetdb: restoring".to_owned()]
    }

    async fn ready(&self, _runbook: &str, _started_ms: i64) -> Result<Readiness, PortError> {
        Ok(Readiness::Waiting {
            progress: "fleetdb: creating".to_owned(),
            overdue: false,
        })
    }
}

fn now() -> i64 {
    dr_core::time::now_millis()
}

#[tokio::test]
async fn a_lost_put_item_reply_on_the_deciding_round_still_flips_in_the_same_invocation() {
    // Given a world whose every call passes a fault proxy, and primary down for one round
    // fewer than the threshold
    let (world, proxy, _endpoint, probes) = world_behind_proxy().await;
    let ports = world.ports();
    let controller = ports.controller();
    let threshold = world.topology.failover.failure_threshold;
    for _ in 1..threshold {
        let outcome = controller
            .round(run_round(&probes, now()).await)
            .await
            .unwrap();
        assert_eq!(outcome.decision, Decision::Stay);
    }

    // When the deciding round's save reaches DynamoDB but its answer is lost (the SDK
    // retries it, and the retry fails its own condition)
    proxy.set_rules(vec![FaultRule {
        drop_reply: 1.0,
        times: Some(1),
        ..FaultRule::operation("dynamodb", "PutItem")
    }]);
    let outcome = controller.round(run_round(&probes, now()).await).await;
    proxy.set_rules(Vec::new());

    // Then the round knows its save landed and flips now, not a minute later
    let counts = proxy.counts()["dynamodb:PutItem"].clone();
    assert_eq!(counts.replies_dropped, 1, "{counts:?}");
    let outcome = outcome.expect("the deciding round is not fenced by its own write");
    assert!(
        matches!(outcome.decision, Decision::FailOver(_)),
        "{:?}",
        outcome.decision
    );
    assert_eq!(
        outcome.steps.first(),
        Some(&Step::Flip),
        "{:?}",
        outcome.steps
    );
    assert_eq!(world.route53_answer().await, Some(Side::Dr));
    assert_eq!(failed_over_pages(&world.notifications().await), 1);
}

#[tokio::test]
async fn while_a_failover_runbook_waits_for_rds_every_round_publishes_dr_serving() {
    // Given a failover whose database restore takes long
    let (world, proxy, _endpoint, probes) = world_behind_proxy().await;
    let ports = world.ports();
    let controller = Controller {
        store: &ports.store,
        switch: &ports.switch,
        notifier: &ports.notifier,
        database: &SlowRestore,
        settings: world.topology.failover.settings(),
        dr_region: world.topology.dr.region.to_string(),
    };
    let mut decided = false;
    while !decided {
        let outcome = controller
            .round(run_round(&probes, now()).await)
            .await
            .unwrap();
        decided = matches!(outcome.decision, Decision::FailOver(_));
    }
    let published = || {
        proxy
            .counts()
            .get("monitoring:PutMetricData")
            .map_or(0, |c| c.forwarded)
    };
    let after_flip = published();
    // When three more rounds run, the runbook still pending
    for _ in 0..3 {
        let outcome = controller
            .round(run_round(&probes, now()).await)
            .await
            .unwrap();
        assert!(outcome.record.runbook.is_some(), "the restore is not ready");
    }
    // Then each published the serving metric (DR: the flip is done), and Route 53 says DR
    assert_eq!(published() - after_flip, 3, "{:?}", proxy.counts());
    assert_eq!(world.route53_answer().await, Some(Side::Dr));
}

#[tokio::test]
async fn a_crash_after_the_flip_then_a_round_and_a_resume_at_once_page_failed_over_once() {
    // Given a failover whose invocation died right after its flip was saved
    let (world, _proxy, _endpoint, probes) = world_behind_proxy().await;
    let ports = world.ports();
    let Stored {
        mut record,
        version,
    } = ports.controller().current(now()).await.unwrap();
    dr_core::failover::machine::force_failover(&mut record.state, now()).unwrap();
    let runbook: Runbook = serde_json::from_value(json!({
        "id": format!("failover-{}", now()),
        "kind": "failover",
        "by": "health-checker",
        "reason": "3 consecutive rounds down",
        "evidence": null,
        "started_ms": now(),
        "done": ["flip"],
        "notes": [],
    }))
    .unwrap();
    record.runbook = Some(runbook);
    assert!(ports.store.save(&record, version).await.unwrap());
    ports.switch.point_to(Side::Dr).await.unwrap();

    // When the next scheduled round and `drctl failover --resume` continue it at once
    let racing = RacingStore {
        inner: &ports.store,
        barrier: tokio::sync::Barrier::new(2),
    };
    let controller = Controller {
        store: &racing,
        switch: &ports.switch,
        notifier: &ports.notifier,
        database: &ports.recovery,
        settings: world.topology.failover.settings(),
        dr_region: world.topology.dr.region.to_string(),
    };
    let round = run_round(&probes, now()).await;
    let (resumed, rounded) = tokio::join!(controller.resume(now()), controller.round(round));

    // Then one continued the runbook, the other stopped before paging, and operators were
    // paged once
    let fenced = [&resumed, &rounded]
        .iter()
        .filter(|r| matches!(r, Err(FailoverError::Fenced(_))))
        .count();
    assert_eq!(fenced, 1, "{resumed:?}\n{rounded:?}");
    assert_eq!(failed_over_pages(&world.notifications().await), 1);
}
