//! A regional outage as AWS has them: every call signed for primary's region hung (accepted,
//! never answered) or refused, played by a fault proxy of the test's own in front of the
//! sandbox (other tests see nothing). And IAM, which the sandbox enforces: a call outside a
//! role's policy is refused as AWS refuses it.

use std::time::{Duration, Instant};

use aws_sdk_iot::types::CertificateStatus as SdkStatus;
use dr_aws::AwsSession;
use dr_core::replication::CertificateRegistry;
use dr_core::{CertificateStatus, Side};
use dr_sandbox::fault_proxy::{FaultProxy, OutageMode, OutageScope};
use serde_json::json;

use crate::helpers::{admin, as_function, shared_endpoint, unique};
use crate::pipeline::{Device, Pipeline};

/// How long primary's region stays hung mid-replication (`DRCTL_OUTAGE_SECONDS`).
fn outage_seconds() -> u64 {
    std::env::var("DRCTL_OUTAGE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
}

/// A pipeline whose code under test calls through `proxy`; fixtures and the event source
/// mapping (AWS's own) go to the sandbox directly.
async fn pipeline_behind_outage_proxy() -> (Pipeline, FaultProxy) {
    let proxy = FaultProxy::start(shared_endpoint().as_str(), 1)
        .await
        .unwrap();
    let endpoint: dr_core::Endpoint = proxy.url().parse().unwrap();
    let mut p = Pipeline::on(&endpoint).await;
    let mut direct = p.topology.clone();
    direct.sandbox.as_mut().unwrap().endpoint = shared_endpoint();
    p.session = admin(&direct).await;
    p.sqs = p.session.sqs(Side::Dr);
    (p, proxy)
}

fn primary_region(p: &Pipeline) -> OutageScope {
    OutageScope::Region {
        region: p.topology.primary.region.to_string(),
    }
}

async fn register(p: &Pipeline, device: &Device) {
    p.session
        .iot(Side::Primary)
        .register_certificate_without_ca()
        .certificate_pem(&device.pem)
        .status(SdkStatus::Active)
        .send()
        .await
        .unwrap();
}

async fn capture(p: &Pipeline, device: &Device) -> Result<(), String> {
    let event = crate::replication::cloudtrail(
        "RegisterCertificateWithoutCA",
        json!({}),
        json!({"certificateId": device.id.as_str()}),
    );
    dr_core::replication::service::capture_and_publish(
        &event,
        &p.primary,
        &p.bus,
        &p.source(),
        dr_core::time::now_millis,
    )
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// Messages capture published before the outage are already out of primary's region (the
/// topic is DR's): the replicator applies them while primary is hung, calling DR only.
/// Captures during the outage fail (their reads of primary get no answer) and EventBridge
/// retries them once the region is back: nothing is lost.
#[tokio::test]
async fn a_primary_region_hung_for_a_minute_mid_replication_loses_nothing() {
    let (p, proxy) = pipeline_behind_outage_proxy().await;
    let before: Vec<Device> = (0..8)
        .map(|_| Device::self_signed(&unique("before")))
        .collect();
    let during: Vec<Device> = (0..4)
        .map(|_| Device::self_signed(&unique("during")))
        .collect();
    for device in before.iter().chain(&during) {
        register(&p, device).await;
    }
    for device in &before {
        capture(&p, device).await.unwrap();
    }

    proxy.set_outage(primary_region(&p), Some(OutageMode::Hang));
    let began = Instant::now();
    let captures = futures_util::future::join_all(during.iter().map(|d| capture(&p, d)));
    let (failed_captures, report) = tokio::join!(captures, p.drain());
    let drained_after = began.elapsed();
    assert!(
        failed_captures.iter().all(Result::is_err),
        "captures read primary, which does not answer: {failed_captures:?}"
    );
    for device in &before {
        let in_dr = p.dr.certificate(&device.id).await.unwrap();
        assert_eq!(
            in_dr.map(|c| c.status),
            Some(CertificateStatus::Active),
            "{} published before the outage, applied during it",
            device.id
        );
    }
    let counts = proxy.all_counts();
    let (primary, dr) = (counts.region("us-east-1"), counts.region("us-west-2"));
    assert!(primary.swallowed > 0, "the outage happened: {counts:#?}");
    assert_eq!(dr.swallowed, 0, "{counts:#?}");
    eprintln!(
        "outage: {} applied in DR {:.1} s into the hang ({} calls to primary's region swallowed); replicator {} applied, {} retried",
        before.len(),
        drained_after.as_secs_f64(),
        primary.swallowed,
        report.applied,
        report.retried
    );

    let rest = Duration::from_secs(outage_seconds()).saturating_sub(began.elapsed());
    tokio::time::sleep(rest).await;
    proxy.set_outage(primary_region(&p), None);
    // EventBridge's retries of the failed invocations, after the region came back.
    for device in &during {
        capture(&p, device).await.unwrap();
    }
    p.drain().await;
    for device in before.iter().chain(&during) {
        let in_dr = p.dr.certificate(&device.id).await.unwrap();
        assert_eq!(
            in_dr.map(|c| c.status),
            Some(CertificateStatus::Active),
            "{} lost",
            device.id
        );
    }
    assert!(
        p.dead_letters().await.is_empty(),
        "the outage reached the DLQ"
    );
}

/// The reconciler binary with primary's region hung or refusing: it says PrimaryUnreachable
/// within one call's budget (its 20 s operation timeout), not after its 15-minute
/// invocation, and keeps no half-walked pass.
#[tokio::test]
async fn the_reconciler_reports_primary_unreachable_within_its_budget() {
    let (p, proxy) = pipeline_behind_outage_proxy().await;
    let env = crate::e2e::lambda_env(&p);
    let reconciler = crate::e2e::lambda_paths()
        .start("reconciler", &p.topology, &env)
        .await
        .unwrap();
    let scheduled = json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
    let budget = dr_core::CallTimeouts::defaults_for("reconciler").operation;
    for mode in [OutageMode::Hang, OutageMode::Refuse] {
        proxy.set_outage(primary_region(&p), Some(mode));
        let started = Instant::now();
        let answer = reconciler.invoke(&scheduled).await.unwrap();
        let took = started.elapsed();
        assert_eq!(answer["primary_unreachable"], 1, "{mode}: {answer}");
        assert!(
            took < budget * 2 + Duration::from_secs(5),
            "{mode}: {took:?} for a pass that could read nothing"
        );
        assert!(
            answer["error"]
                .as_str()
                .is_some_and(|e| e.contains("ListCertificates")),
            "{answer}"
        );
        eprintln!(
            "reconciler, primary {mode}: PrimaryUnreachable after {:.1} s",
            took.as_secs_f64()
        );
    }
    // Nothing was walked, so nothing was checkpointed: the next pass starts clean.
    let checkpoint = dr_aws::checkpoint::DynamoCheckpoint::new(
        p.session.dynamodb(Side::Dr),
        p.topology.replication.ledger_table.as_str(),
        "primary-to-dr",
    );
    use dr_core::reconcile::CheckpointStore;
    assert!(checkpoint.load().await.unwrap().is_none());
}

/// Enforcement can fail a test: each call here is outside the caller's policy and refused
/// with AWS's own error, though the administrator may make it.
#[tokio::test]
async fn a_call_outside_a_role_s_policy_is_refused_as_aws_refuses_it() {
    let p = Pipeline::new().await;
    let t = &p.topology;
    let denied = |e: &str| e.contains("is not authorized to perform");

    // The replicator may write its ledger, not the failover state.
    let replicator = as_function(t, "cert-replicator").await;
    let put = |session: &AwsSession| {
        session
            .dynamodb(Side::Dr)
            .put_item()
            .table_name(t.failover.state_table.as_str())
            .item(
                "id",
                aws_sdk_dynamodb::types::AttributeValue::S(unique("probe")),
            )
            .send()
    };
    let error = put(&replicator).await.unwrap_err();
    let error = aws_sdk_dynamodb::error::DisplayErrorContext(&error).to_string();
    assert!(
        error.contains("AccessDeniedException")
            && denied(&error)
            && error.contains("dynamodb:PutItem"),
        "{error}"
    );
    put(&p.session).await.expect("the administrator may");

    // The health checker reads alarms in primary, never its snapshots (the restore reads DR's).
    let checker = as_function(t, "health-checker").await;
    let error = checker
        .rds_in(Side::Primary, &t.primary.region)
        .describe_db_snapshots()
        .send()
        .await
        .unwrap_err();
    let error = aws_sdk_rds::error::DisplayErrorContext(&error).to_string();
    assert!(
        error.contains("AccessDenied") && error.contains("rds:DescribeDBSnapshots"),
        "{error}"
    );

    // Capture reads primary's registry; it may not change it.
    let device = Device::self_signed(&unique("refused"));
    register(&p, &device).await;
    let capture = as_function(t, "cert-capture").await;
    let error = capture
        .iot(Side::Primary)
        .update_certificate()
        .certificate_id(device.id.as_str())
        .new_status(SdkStatus::Revoked)
        .send()
        .await
        .unwrap_err();
    let error = aws_sdk_iot::error::DisplayErrorContext(&error).to_string();
    assert!(
        error.contains("AccessDeniedException") && denied(&error),
        "{error}"
    );
    assert_eq!(
        p.primary
            .certificate(&device.id)
            .await
            .unwrap()
            .map(|c| c.status),
        Some(CertificateStatus::Active),
        "nothing changed"
    );

    // A role outside the caller's own: the replicator's execution role may assume only its
    // own DR role, so taking the operators' is refused at AssumeRole.
    let mut stolen = dr_sandbox::identity::as_function(t, "cert-replicator");
    stolen.dr.role_arn = t.dr.role_arn.clone();
    let error = AwsSession::connect(&stolen, "sandbox-tests")
        .await
        .sts(Side::Dr)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    let error = aws_sdk_sts::error::DisplayErrorContext(&error).to_string();
    assert!(error.contains("sts:AssumeRole"), "{error}");

    let denials = dr_sandbox::fault_proxy::control::ProxyClient::new(shared_endpoint().as_str())
        .denials()
        .await
        .unwrap();
    assert!(
        denials
            .iter()
            .any(|d| d.contains("dynamodb:PutItem") && d.contains(t.failover.state_table.as_str())),
        "the proxy keeps the refusal"
    );
}
