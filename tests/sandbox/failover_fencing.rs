//! Flow D's fencing under a bad network: the state table reached through a test's own
//! fault proxy, whose "forward, then drop the reply" rule loses the answer of a write that
//! DynamoDB made; and two invocations continuing one runbook at once.

use std::sync::Arc;

use dr_aws::probes::{run_round, Probe};
use dr_core::failover::{Decision, Step};
use dr_core::{FlipMode, Side};
use dr_sandbox::fault_proxy::{FaultProxy, FaultRule};

use crate::failover::World;
use crate::helpers::shared_endpoint;
use crate::primary_endpoint::PrimaryEndpoint;

fn now() -> i64 {
    dr_core::time::now_millis()
}

#[tokio::test]
async fn a_lost_put_item_reply_on_the_deciding_round_still_flips_in_the_same_invocation() {
    // Given a world whose every call passes a fault proxy, and primary down for one round
    // fewer than the threshold
    let proxy = FaultProxy::start(shared_endpoint().as_str(), 29)
        .await
        .unwrap();
    let sandbox: dr_core::Endpoint = proxy.url().parse().unwrap();
    let mut endpoint = PrimaryEndpoint::start().await;
    let world = World::protecting_on(&sandbox, &endpoint, FlipMode::DataPlane, None).await;
    let probes: Vec<Arc<Probe>> = Probe::all(&world.topology, &world.checker)
        .unwrap()
        .into_iter()
        .map(Arc::new)
        .collect();
    let ports = world.ports();
    let controller = ports.controller();
    endpoint.stop().await;
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
    let pages = world
        .notifications()
        .await
        .into_iter()
        .filter(|n| n.contains("FAILED OVER"))
        .count();
    assert_eq!(pages, 1);
}
