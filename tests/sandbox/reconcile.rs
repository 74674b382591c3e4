//! The reconciler against a sandbox of its own (it lists whole registries, so other tests'
//! certificates must not be in them): injected drift is found, a dry run changes nothing,
//! a repair fixes exactly the drift, revoked wins, and failback copies DR-only certificates.
//! Pages of two certificates, so every pass crosses page boundaries; the repair walks one
//! page per run from a DynamoDB checkpoint, as the Lambda does when a fleet outgrows one
//! invocation.

/// Small pages: six certificates per side span several.
const PAGE_SIZE: u32 = 2;

/// Both registries and the ledger, as a principal holds them.
struct Held {
    session: dr_aws::AwsSession,
    primary: IotRegistry,
    dr: IotRegistry,
    ledger: DynamoLedger,
}

impl Held {
    fn of(session: dr_aws::AwsSession, p: &Pipeline) -> Self {
        Self {
            primary: IotRegistry::for_side(&session, &p.topology, Side::Primary),
            dr: IotRegistry::for_side(&session, &p.topology, Side::Dr),
            ledger: DynamoLedger::new(
                session.dynamodb(Side::Dr),
                p.topology.replication.ledger_table.as_str(),
            ),
            session,
        }
    }
}

/// The scheduled reconciler's pass, under the reconciler Lambda's roles.
fn forward<'a>(
    r: &'a Held,
    p: &Pipeline,
    apply_repairs: bool,
) -> Reconciler<'a, IotRegistry, IotRegistry, DynamoLedger> {
    Reconciler::new(
        &p.topology,
        Direction::PrimaryToDr,
        &r.primary,
        &r.dr,
        &r.ledger,
    )
    .repairing(apply_repairs)
    .page_size(PAGE_SIZE)
}

use aws_sdk_iot::types::CertificateStatus as SdkStatus;
use dr_aws::checkpoint::DynamoCheckpoint;
use dr_aws::iot::IotRegistry;
use dr_aws::ledger::DynamoLedger;
use dr_core::reconcile::{CheckpointStore, Direction, NoLedger, Reconciler};
use dr_core::replication::CertificateRegistry;
use dr_core::{CertificateStatus, Side};
use dr_sandbox::{LauncherPaths, SandboxServer};
use serde_json::json;

use crate::helpers::{as_function, as_operator, unique};
use crate::pipeline::{Device, Pipeline};

#[tokio::test]
async fn injected_drift_is_reported_then_repaired_and_failback_copies_dr_only_certificates() {
    let log = std::env::temp_dir().join(format!("{}.log", unique("reconcile-sandbox")));
    let server = SandboxServer::start(&LauncherPaths::from_build(), &log)
        .await
        .unwrap();
    let p = Pipeline::on(server.endpoint()).await;
    let primary_iot = p.session.iot(Side::Primary);
    let dr_iot = p.session.iot(Side::Dr);
    let policy = "fleet-wearable";
    primary_iot
        .create_policy()
        .policy_name(policy)
        .policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .unwrap();

    // Five devices replicated the normal way.
    let devices: Vec<Device> = (0..5)
        .map(|i| Device::self_signed(&format!("device-{i}")))
        .collect();
    for device in &devices {
        primary_iot
            .register_certificate_without_ca()
            .certificate_pem(&device.pem)
            .status(SdkStatus::Active)
            .send()
            .await
            .unwrap();
        primary_iot
            .attach_policy()
            .policy_name(policy)
            .target(p.primary.certificate_arn(&device.id))
            .send()
            .await
            .unwrap();
        let mut event: serde_json::Value = serde_json::from_str(include_str!(
            "../fixtures/events/cloudtrail-AttachPolicy.json"
        ))
        .unwrap();
        event["detail"]["requestParameters"] =
            json!({"policyName": policy, "target": p.primary.certificate_arn(&device.id)});
        p.capture(&event).await;
    }
    p.drain().await;

    // Drift, injected behind the replicator's back.
    let [deleted, deactivated, detached, revoked, _] = &devices[..] else {
        unreachable!()
    };
    let dr_arn = |d: &Device| p.dr.certificate_arn(&d.id);
    dr_iot
        .detach_policy()
        .policy_name(policy)
        .target(dr_arn(deleted))
        .send()
        .await
        .unwrap();
    dr_iot
        .update_certificate()
        .certificate_id(deleted.id.as_str())
        .new_status(SdkStatus::Inactive)
        .send()
        .await
        .unwrap();
    dr_iot
        .delete_certificate()
        .certificate_id(deleted.id.as_str())
        .send()
        .await
        .unwrap();
    dr_iot
        .update_certificate()
        .certificate_id(deactivated.id.as_str())
        .new_status(SdkStatus::Inactive)
        .send()
        .await
        .unwrap();
    dr_iot
        .detach_policy()
        .policy_name(policy)
        .target(dr_arn(detached))
        .send()
        .await
        .unwrap();
    dr_iot
        .update_certificate()
        .certificate_id(revoked.id.as_str())
        .new_status(SdkStatus::Revoked)
        .send()
        .await
        .unwrap();
    let outage_registration = Device::self_signed("registered-during-outage");
    dr_iot
        .register_certificate_without_ca()
        .certificate_pem(&outage_registration.pem)
        .status(SdkStatus::Active)
        .send()
        .await
        .unwrap();

    let reconciler = Held::of(as_function(&p.topology, "reconciler").await, &p);
    let dry = forward(&reconciler, &p, false)
        .run_to_end(dr_core::time::now_millis)
        .await
        .unwrap();
    let c = dry.counts;
    assert_eq!(
        (c.missing, c.mismatched, c.conflicts, c.extra),
        (1, 2, 1, 1),
        "{:#?}",
        dry.first
    );
    assert_eq!(
        p.dr.certificate(&deleted.id).await.unwrap(),
        None,
        "a dry run changes nothing"
    );

    // The repair: one page per run, continuing from the checkpoint, as invocations would.
    let checkpoint = DynamoCheckpoint::new(
        reconciler.session.dynamodb(Side::Dr),
        p.topology.replication.ledger_table.as_str(),
        "primary-to-dr",
    );
    let repair = forward(&reconciler, &p, true);
    let mut runs = 0;
    let (mut repaired, mut failed) = (0, Vec::new());
    let totals = loop {
        runs += 1;
        assert!(runs <= 12, "the pass never completed");
        let run = repair
            .run(
                &checkpoint,
                |pages| pages < 1,
                |_, _| {},
                dr_core::time::now_millis,
            )
            .await
            .unwrap();
        repaired += run.repaired;
        failed.extend(run.failed);
        if let Some((_, totals)) = run.completed {
            break totals;
        }
    };
    assert_eq!(repaired, 3, "{failed:?}");
    // 5 primary certificates in pages of 2 → 3 pages; 6 in DR → 3 pages.
    assert_eq!(
        (runs, totals.pages, totals.checked),
        (6, 6, 11),
        "{totals:?}"
    );
    assert_eq!(
        (
            totals.drift.missing,
            totals.drift.mismatched,
            totals.drift.conflicts,
            totals.drift.extra
        ),
        (1, 2, 1, 1)
    );

    // A reconciler that read the checkpoint before another saved must stop, not walk on.
    let stale = DynamoCheckpoint::new(
        reconciler.session.dynamodb(Side::Dr),
        p.topology.replication.ledger_table.as_str(),
        "primary-to-dr",
    );
    let seen = stale.load().await.unwrap().unwrap();
    repair
        .run(
            &checkpoint,
            |pages| pages < 1,
            |_, _| {},
            dr_core::time::now_millis,
        )
        .await
        .unwrap();
    assert!(
        !stale.save(&seen.cursor, seen.version).await.unwrap(),
        "the stale save must be refused"
    );
    for device in [deleted, deactivated, detached] {
        assert_eq!(
            p.dr.certificate(&device.id).await.unwrap().unwrap().status,
            CertificateStatus::Active
        );
        let policies = p.dr.certificate_policy_names(&device.id).await.unwrap();
        assert_eq!(
            policies.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
            [policy]
        );
    }
    assert_eq!(
        p.dr.certificate(&revoked.id).await.unwrap().unwrap().status,
        CertificateStatus::Revoked,
        "revoked in DR stays revoked though primary says ACTIVE"
    );
    assert!(
        p.dr.certificate(&outage_registration.id)
            .await
            .unwrap()
            .is_some(),
        "extras are never deleted"
    );
    let again = forward(&reconciler, &p, false)
        .run_to_end(dr_core::time::now_millis)
        .await
        .unwrap();
    assert_eq!((again.counts.missing, again.counts.mismatched), (0, 0));

    // Failback: the certificate registered in DR during the outage reaches primary, by an
    // operator's `drctl reconcile --direction dr-to-primary --apply`.
    let operator = Held::of(as_operator(&p.topology).await, &p);
    let back = Reconciler::new(
        &p.topology,
        Direction::DrToPrimary,
        &operator.dr,
        &operator.primary,
        &NoLedger,
    )
    .repairing(true)
    .page_size(PAGE_SIZE)
    .run_to_end(dr_core::time::now_millis)
    .await
    .unwrap();
    assert!(back.counts.missing >= 1, "{:?}", back.counts);
    assert_eq!(
        p.primary
            .certificate(&outage_registration.id)
            .await
            .unwrap()
            .map(|c| c.status),
        Some(CertificateStatus::Active)
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn shadows_and_memberships_the_replicator_missed_are_repaired_and_failback_carries_dr_s_newer_writes_back(
) {
    use aws_sdk_iotdataplane::primitives::Blob;
    use dr_core::replication::ShadowStore;

    let log = std::env::temp_dir().join(format!("{}.log", unique("reconcile-shadows")));
    let server = SandboxServer::start(&LauncherPaths::from_build(), &log)
        .await
        .unwrap();
    let p = Pipeline::on(server.endpoint()).await;
    let primary_iot = p.session.iot(Side::Primary);
    let device = Device::self_signed("shadowed-wearable");
    let thing = "wearable-shadowed";
    primary_iot
        .register_certificate_without_ca()
        .certificate_pem(&device.pem)
        .status(SdkStatus::Active)
        .send()
        .await
        .unwrap();
    primary_iot
        .create_thing()
        .thing_name(thing)
        .send()
        .await
        .unwrap();
    let arn = p.primary.certificate_arn(&device.id);
    primary_iot
        .attach_thing_principal()
        .thing_name(thing)
        .principal(&arn)
        .send()
        .await
        .unwrap();
    let mut event: serde_json::Value = serde_json::from_str(include_str!(
        "../fixtures/events/cloudtrail-AttachThingPrincipal.json"
    ))
    .unwrap();
    event["detail"]["requestParameters"] = json!({"thingName": thing, "principal": arn});
    p.capture(&event).await;
    p.drain().await;

    // Shadow updates whose documents events never reached capture (a rule's action
    // failing, say): only the reconciler can find them.
    let write = async |side: Side, name: Option<&str>, desired: serde_json::Value| {
        p.session
            .iot_data(side)
            .update_thing_shadow()
            .thing_name(thing)
            .set_shadow_name(name.map(str::to_owned))
            .payload(Blob::new(
                json!({"state": {"desired": desired}}).to_string(),
            ))
            .send()
            .await
            .unwrap();
    };
    write(Side::Primary, None, json!({"rate_hz": 10, "hr_high": 120})).await;
    write(
        Side::Primary,
        Some("alerts"),
        json!({"escalate_after_s": 30}),
    )
    .await;

    // And a ward membership whose CloudTrail event never reached capture.
    primary_iot
        .create_thing_group()
        .thing_group_name("cardiology")
        .send()
        .await
        .unwrap();
    primary_iot
        .add_thing_to_thing_group()
        .thing_group_name("cardiology")
        .thing_name(thing)
        .send()
        .await
        .unwrap();
    let reconciler = Held::of(as_function(&p.topology, "reconciler").await, &p);
    let dry = forward(&reconciler, &p, false)
        .run_to_end(dr_core::time::now_millis)
        .await
        .unwrap();
    assert_eq!(
        (dry.counts.shadows, dry.counts.memberships),
        (2, 1),
        "{:?}",
        dry.counts
    );
    let name: dr_core::ThingName = thing.parse().unwrap();
    assert!(
        reconciler.dr.shadow(&name, None).await.unwrap().is_none(),
        "dry"
    );

    let applied = forward(&reconciler, &p, true)
        .run_to_end(dr_core::time::now_millis)
        .await
        .unwrap();
    assert!(applied.failed.is_empty(), "{:?}", applied.failed);
    use dr_core::replication::ThingGroupRegistry;
    assert!(
        reconciler
            .dr
            .thing_group_names(&name)
            .await
            .unwrap()
            .iter()
            .any(|g| g.as_str() == "cardiology"),
        "the membership repaired through the thing's message"
    );
    for shadow in [None, Some("alerts")] {
        assert_eq!(
            reconciler
                .dr
                .shadow(&name, shadow)
                .await
                .unwrap()
                .map(|d| d.state),
            reconciler
                .primary
                .shadow(&name, shadow)
                .await
                .unwrap()
                .map(|d| d.state),
            "{shadow:?}"
        );
    }

    // DR serves: a clinician raises the alert threshold there (within the second: no clock
    // decides). The forward pass sees the difference and keeps DR's value, which differs
    // from the base the ledger holds; failback's reverse pass carries it to primary.
    write(Side::Dr, None, json!({"hr_high": 140})).await;
    let again = forward(&reconciler, &p, true)
        .run_to_end(dr_core::time::now_millis)
        .await
        .unwrap();
    assert_eq!(again.counts.shadows, 1);
    let desired = |doc: Option<dr_core::replication::shadow::ShadowDocument>| {
        doc.and_then(|d| d.state.desired).unwrap()
    };
    assert_eq!(
        desired(reconciler.dr.shadow(&name, None).await.unwrap())["hr_high"],
        140,
        "a desired state never goes backwards"
    );

    let operator = Held::of(as_operator(&p.topology).await, &p);
    let back = Reconciler::new(
        &p.topology,
        Direction::DrToPrimary,
        &operator.dr,
        &operator.primary,
        &NoLedger,
    )
    .repairing(true)
    .page_size(PAGE_SIZE)
    .run_to_end(dr_core::time::now_millis)
    .await
    .unwrap();
    assert!(back.failed.is_empty(), "{:?}", back.failed);
    let in_primary = desired(reconciler.primary.shadow(&name, None).await.unwrap());
    assert_eq!(in_primary["hr_high"], 140);
    assert_eq!(in_primary["rate_hz"], 10);
    let settled = forward(&reconciler, &p, false)
        .run_to_end(dr_core::time::now_millis)
        .await
        .unwrap();
    assert_eq!(
        (settled.counts.shadows, settled.counts.memberships),
        (0, 0),
        "{:?}",
        settled.counts
    );
    server.stop().await.unwrap();
}
