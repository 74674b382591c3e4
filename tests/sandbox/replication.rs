//! Certificate replication through the sandbox: real IoT, SNS FIFO, SQS FIFO and DynamoDB
//! calls in two accounts, the capture and replicator use cases exactly as the Lambdas run them.

use std::collections::BTreeSet;

use aws_sdk_iot::types::CertificateStatus as SdkStatus;
use dr_core::replication::message::{Subject, MAX_MESSAGE_BYTES};
use dr_core::replication::service::{apply_batch, Delivery};
use dr_core::replication::CertificateRegistry;
use dr_core::{CertificateId, CertificateStatus, Side};
use serde_json::{json, Value};

use sandbox_tests::shuffle;

use crate::helpers::unique;
use crate::pipeline::{attributes, Device, Pipeline};
use dr_sandbox::devices::FleetCa;

fn fixture(name: &str) -> Value {
    let path = crate::e2e::repo_root().join(format!("tests/fixtures/events/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A CloudTrail event for `api` with the given request parameters, as EventBridge sends it.
pub(crate) fn cloudtrail(api: &str, request: Value, response: Value) -> Value {
    let mut event = fixture("cloudtrail-UpdateCertificate");
    event["detail"]["eventName"] = api.into();
    event["detail"]["requestParameters"] = request;
    event["detail"]["responseElements"] = response;
    event["detail"]["eventTime"] = "2026-11-22T05:00:00Z".into();
    event
}

fn policy_document(account: &str, region: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["iot:Connect", "iot:Publish"],
            "Resource": [
                format!("arn:aws:iot:{region}:{account}:client/${{iot:Connection.Thing.ThingName}}"),
                format!("arn:aws:iot:{region}:{account}:topic/alerts/*")
            ]
        }]
    })
    .to_string()
}

async fn status_in(p: &Pipeline, side: Side, id: &CertificateId) -> Option<CertificateStatus> {
    let registry = match side {
        Side::Primary => &p.primary,
        Side::Dr => &p.dr,
    };
    registry.certificate(id).await.unwrap().map(|c| c.status)
}

/// Register `device` in primary with a thing and a policy, the way the fleet's
/// provisioning does.
async fn provision_device(p: &Pipeline, device: &Device, status: SdkStatus) -> (String, String) {
    let iot = p.session.iot(Side::Primary);
    iot.register_certificate_without_ca()
        .certificate_pem(&device.pem)
        .status(status)
        .send()
        .await
        .unwrap();
    let thing = unique("wearable");
    let policy = unique("wearable-policy");
    attach_thing_and_policy(p, device, &thing, &policy).await;
    (thing, policy)
}

/// An ACTIVE device provisioned in primary (thing, policy) and replicated to DR; its thing
/// and policy names.
async fn replicated_device(p: &Pipeline, device: &Device) -> (String, String) {
    let provisioned = provision_device(p, device, SdkStatus::Active).await;
    p.capture(&cloudtrail(
        "RegisterCertificateWithoutCA",
        json!({"status": "ACTIVE"}),
        json!({"certificateId": device.id.as_str()}),
    ))
    .await;
    p.drain().await;
    provisioned
}

async fn attach_thing_and_policy(p: &Pipeline, device: &Device, thing: &str, policy: &str) {
    let iot = p.session.iot(Side::Primary);
    let arn = p.primary.certificate_arn(&device.id);
    iot.create_thing()
        .thing_name(thing)
        .attribute_payload(
            aws_sdk_iot::types::AttributePayload::builder()
                .attributes("model", "w2")
                .attributes("ward", "cardiology")
                .build(),
        )
        .send()
        .await
        .unwrap();
    iot.attach_thing_principal()
        .thing_name(thing)
        .principal(&arn)
        .send()
        .await
        .unwrap();
    let document = policy_document(
        p.topology.primary.account_id.as_str(),
        p.topology.primary.region.as_str(),
    );
    iot.create_policy()
        .policy_name(policy)
        .policy_document(document)
        .send()
        .await
        .unwrap();
    iot.attach_policy()
        .policy_name(policy)
        .target(&arn)
        .send()
        .await
        .unwrap();
}

async fn assert_dr_has(
    p: &Pipeline,
    id: &CertificateId,
    status: CertificateStatus,
    thing: &str,
    policy: &str,
) {
    let dr =
        p.dr.certificate(id)
            .await
            .unwrap()
            .expect("certificate in DR");
    assert_eq!(dr.status, status);
    let things = p.dr.certificate_things(id).await.unwrap();
    assert_eq!(
        things.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        [thing]
    );
    let thing_record = p.dr.thing(&thing.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(
        thing_record.attributes,
        attributes(&[("model", "w2"), ("ward", "cardiology")])
    );
    let policies = p.dr.certificate_policies(id).await.unwrap();
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0].policy_name.as_str(), policy);
    let expected = policy_document(
        p.topology.dr.account_id.as_str(),
        p.topology.dr.region.as_str(),
    );
    let document: Value = serde_json::from_str(&policies[0].document).unwrap();
    assert_eq!(
        document,
        serde_json::from_str::<Value>(&expected).unwrap(),
        "ARNs rewritten for DR"
    );
}

#[tokio::test]
async fn a_jitr_certificate_activated_in_primary_ends_active_in_dr() {
    let p = Pipeline::new().await;
    let ca = FleetCa::new(&unique("fleet-ca"));
    let device = ca.sign_device(&unique("jitr-device"));
    let primary_iot = p.session.iot(Side::Primary);
    // The fleet CA is registered in both regions (a readiness precondition), so DR
    // registers the device against it, as primary did.
    for side in [Side::Primary, Side::Dr] {
        p.session
            .iot(side)
            .register_ca_certificate()
            .ca_certificate(&ca.pem)
            .set_as_active(true)
            .allow_auto_registration(true)
            .send()
            .await
            .unwrap();
    }
    // JITR: the device's first connection registers it PENDING_ACTIVATION...
    primary_iot
        .register_certificate()
        .certificate_pem(&device.pem)
        .ca_certificate_pem(&ca.pem)
        .status(SdkStatus::PendingActivation)
        .send()
        .await
        .unwrap();
    let mut jitr = fixture("jitr-registered");
    jitr["certificateId"] = device.id.as_str().into();
    jitr["caCertificateId"] = ca.id.as_str().into();
    p.capture(&jitr).await;
    p.drain().await;
    assert_eq!(
        status_in(&p, Side::Dr, &device.id).await,
        Some(CertificateStatus::Inactive)
    );

    // ...then the fleet's activation logic gives it a thing and a policy and activates it.
    let (thing, policy) = (unique("wearable"), unique("wearable-policy"));
    attach_thing_and_policy(&p, &device, &thing, &policy).await;
    primary_iot
        .update_certificate()
        .certificate_id(device.id.as_str())
        .new_status(SdkStatus::Active)
        .send()
        .await
        .unwrap();
    let activated = cloudtrail(
        "UpdateCertificate",
        json!({"certificateId": device.id.as_str(), "newStatus": "ACTIVE"}),
        Value::Null,
    );
    let messages = p.capture(&activated).await;
    assert_eq!(messages.len(), 1);
    let report = p.drain().await;
    assert!(report.failed.is_empty(), "{report:?}");

    assert_dr_has(&p, &device.id, CertificateStatus::Active, &thing, &policy).await;
    let dr = p.dr.certificate(&device.id).await.unwrap().unwrap();
    assert_eq!(dr.pem, device.pem, "same PEM, so the same certificate id");
    assert_eq!(
        dr.ca_certificate_id.as_ref(),
        Some(&ca.id),
        "registered against the CA in DR"
    );
}

#[tokio::test]
async fn a_revocation_reaches_dr_and_an_older_active_message_does_not_undo_it() {
    let p = Pipeline::new().await;
    let device = Device::self_signed(&unique("revoked-device"));
    let (thing, policy) = provision_device(&p, &device, SdkStatus::Active).await;
    let registered = p
        .capture(&cloudtrail(
            "RegisterCertificateWithoutCA",
            json!({"status": "ACTIVE"}),
            json!({"certificateId": device.id.as_str()}),
        ))
        .await;
    p.drain().await;
    assert_dr_has(&p, &device.id, CertificateStatus::Active, &thing, &policy).await;

    p.session
        .iot(Side::Primary)
        .update_certificate()
        .certificate_id(device.id.as_str())
        .new_status(SdkStatus::Revoked)
        .send()
        .await
        .unwrap();
    p.capture(&cloudtrail(
        "UpdateCertificate",
        json!({"certificateId": device.id.as_str(), "newStatus": "REVOKED"}),
        Value::Null,
    ))
    .await;
    p.drain().await;
    assert_eq!(
        status_in(&p, Side::Dr, &device.id).await,
        Some(CertificateStatus::Revoked)
    );

    // The old ACTIVE state message is delivered again, late.
    let old = registered[0].encode().unwrap();
    p.send_raw(&registered[0].subject.key(), &old).await;
    let report = p.drain().await;
    assert_eq!(report.stale, 1, "{report:?}");
    assert_eq!(
        status_in(&p, Side::Dr, &device.id).await,
        Some(CertificateStatus::Revoked)
    );
}

#[tokio::test]
async fn a_certificate_deleted_in_primary_is_gone_from_dr() {
    let p = Pipeline::new().await;
    let device = Device::self_signed(&unique("deleted-device"));
    let (thing, policy) = replicated_device(&p, &device).await;
    assert!(status_in(&p, Side::Dr, &device.id).await.is_some());

    // Decommissioning in primary: detach, deactivate, delete — as AWS requires.
    let iot = p.session.iot(Side::Primary);
    let arn = p.primary.certificate_arn(&device.id);
    iot.detach_thing_principal()
        .thing_name(&thing)
        .principal(&arn)
        .send()
        .await
        .unwrap();
    iot.detach_policy()
        .policy_name(&policy)
        .target(&arn)
        .send()
        .await
        .unwrap();
    iot.update_certificate()
        .certificate_id(device.id.as_str())
        .new_status(SdkStatus::Inactive)
        .send()
        .await
        .unwrap();
    // AWS detaches asynchronously: the delete waits until it has propagated.
    let mut tries = 0;
    while let Err(e) = iot
        .delete_certificate()
        .certificate_id(device.id.as_str())
        .send()
        .await
    {
        let code = e.as_service_error().and_then(|e| e.meta().code());
        assert_eq!(code, Some("DeleteConflictException"), "{e:?}");
        tries += 1;
        assert!(tries < 40, "the detachment never propagated");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let messages = p
        .capture(&cloudtrail(
            "DeleteCertificate",
            json!({"certificateId": device.id.as_str(), "forceDelete": false}),
            Value::Null,
        ))
        .await;
    assert!(matches!(
        messages[0].subject,
        Subject::CertificateDeleted { .. }
    ));
    let report = p.drain().await;
    assert!(report.failed.is_empty(), "{report:?}");

    assert_eq!(status_in(&p, Side::Dr, &device.id).await, None);
    assert!(p
        .dr
        .thing_certificates(&thing.parse().unwrap())
        .await
        .unwrap()
        .is_empty());
}

/// Capture runs as soon as CloudTrail reports the detach, often before AWS has propagated it:
/// it waits until primary no longer lists the thing, so DR loses the link too, in one pass.
#[tokio::test]
async fn a_thing_detached_in_primary_is_detached_in_dr_though_primary_still_listed_it_at_first() {
    let p = Pipeline::new().await;
    let device = Device::self_signed(&unique("moved-device"));
    let (thing, _) = replicated_device(&p, &device).await;
    let thing_name: dr_core::ThingName = thing.parse().unwrap();
    assert!(p
        .dr
        .certificate_things(&device.id)
        .await
        .unwrap()
        .contains(&thing_name));

    let arn = p.primary.certificate_arn(&device.id);
    p.session
        .iot(Side::Primary)
        .detach_thing_principal()
        .thing_name(&thing)
        .principal(&arn)
        .send()
        .await
        .unwrap();
    assert!(
        p.primary
            .certificate_things(&device.id)
            .await
            .unwrap()
            .contains(&thing_name),
        "primary still lists it: the propagation this test is about"
    );
    let messages = p
        .capture(&cloudtrail(
            "DetachThingPrincipal",
            json!({"thingName": thing, "principal": arn}),
            Value::Null,
        ))
        .await;
    let Subject::Certificate(record) = &messages[0].subject else {
        panic!("{messages:?}");
    };
    assert!(
        record.things.is_empty(),
        "captured once the detachment showed"
    );
    let report = p.drain().await;
    assert!(report.failed.is_empty(), "{report:?}");
    // DR detaches asynchronously too.
    let mut tries = 0;
    while p
        .dr
        .certificate_things(&device.id)
        .await
        .unwrap()
        .contains(&thing_name)
    {
        tries += 1;
        assert!(tries < 40, "never detached in DR");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// The launcher's patch bites: moto alone detaches at once; AWS "might take several seconds
/// for the detachment to propagate", listing the principal and refusing the deletes meanwhile.
#[tokio::test]
async fn the_sandbox_detaches_a_thing_s_principal_a_moment_after_it_is_asked_as_aws_does() {
    let p = Pipeline::new().await;
    let device = Device::self_signed(&unique("detached-device"));
    let (thing, _) = provision_device(&p, &device, SdkStatus::Inactive).await;
    let iot = p.session.iot(Side::Primary);
    let arn = p.primary.certificate_arn(&device.id);
    iot.detach_thing_principal()
        .thing_name(&thing)
        .principal(&arn)
        .send()
        .await
        .unwrap();

    let listed = iot
        .list_thing_principals()
        .thing_name(&thing)
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.principals(),
        std::slice::from_ref(&arn),
        "still listed at first"
    );
    let refused = iot
        .delete_thing()
        .thing_name(&thing)
        .send()
        .await
        .unwrap_err();
    let error = refused.as_service_error().unwrap();
    assert_eq!(error.meta().code(), Some("InvalidRequestException"));
    assert!(
        error
            .meta()
            .message()
            .unwrap_or_default()
            .contains("still attached"),
        "{error:?}"
    );

    // A moment later it is gone, and the thing can go.
    let mut tries = 0;
    while iot.delete_thing().thing_name(&thing).send().await.is_err() {
        tries += 1;
        assert!(tries < 40, "the detachment never propagated");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(p
        .primary
        .certificate_things(&device.id)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn fifty_certificate_histories_duplicated_and_shuffled_converge() {
    let p = Pipeline::new().await;
    let iot = p.session.iot(Side::Primary);
    let mut messages = Vec::new();
    let mut devices = Vec::new();
    for i in 0..50 {
        let device = Device::self_signed(&unique("fleet"));
        let status = if i % 5 == 0 {
            SdkStatus::PendingActivation
        } else {
            SdkStatus::Active
        };
        provision_device(&p, &device, status).await;
        messages.extend(
            p.capture(&cloudtrail(
                "RegisterCertificateWithoutCA",
                json!({}),
                json!({"certificateId": device.id.as_str()}),
            ))
            .await,
        );
        // A second chapter for some: activation, deactivation, or revocation.
        let next = match i % 4 {
            0 => Some(SdkStatus::Active),
            1 => Some(SdkStatus::Inactive),
            2 => Some(SdkStatus::Revoked),
            _ => None,
        };
        if let Some(status) = next {
            iot.update_certificate()
                .certificate_id(device.id.as_str())
                .new_status(status)
                .send()
                .await
                .unwrap();
            messages.extend(
                p.capture(&cloudtrail(
                    "UpdateCertificate",
                    json!({"certificateId": device.id.as_str()}),
                    Value::Null,
                ))
                .await,
            );
        }
        devices.push(device);
    }
    // Drop what capture published in order; deliver every message three times, shuffled.
    p.sqs
        .purge_queue()
        .queue_url(&p.queue_url)
        .send()
        .await
        .unwrap();
    let mut deliveries: Vec<_> = messages.iter().chain(&messages).chain(&messages).collect();
    shuffle(&mut deliveries, 0x5eed);
    for message in deliveries {
        p.send_raw(&message.subject.key(), &message.encode().unwrap())
            .await;
    }
    let report = p.drain().await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert!(
        report.stale >= messages.len() as u64,
        "duplicates were skipped: {report:?}"
    );

    for device in &devices {
        let primary = p.primary.certificate(&device.id).await.unwrap().unwrap();
        let dr = p.dr.certificate(&device.id).await.unwrap().expect("in DR");
        assert_eq!(dr.status, primary.status.in_dr(), "{}", device.id);
        assert_eq!(dr.pem, primary.pem);
        let names = |set: BTreeSet<dr_core::ThingName>| {
            set.into_iter().map(|t| t.to_string()).collect::<Vec<_>>()
        };
        assert_eq!(
            names(p.dr.certificate_things(&device.id).await.unwrap()),
            names(p.primary.certificate_things(&device.id).await.unwrap())
        );
        assert_eq!(
            p.dr.certificate_policy_names(&device.id).await.unwrap(),
            p.primary
                .certificate_policy_names(&device.id)
                .await
                .unwrap()
        );
    }
}

#[tokio::test]
async fn bad_inputs_are_rejected_with_a_reason_and_write_nothing() {
    let p = Pipeline::new().await;
    let device = Device::self_signed(&unique("bad-input"));
    let other = Device::self_signed(&unique("other"));
    let good = json!({
        "schema_version": 1,
        "source": {"account_id": "111111111111", "region": "us-east-1"},
        "cause": "RegisterCertificate",
        "event_time_ms": 1,
        "observed_at_ms": 2,
        "subject": {
            "kind": "certificate",
            "certificate_id": device.id.as_str(),
            "certificate_pem": device.pem,
            "status": "ACTIVE",
            "last_modified_ms": 1
        }
    });
    let with = |pointer: &str, value: Value| {
        let mut message = good.clone();
        *message.pointer_mut(pointer).unwrap() = value;
        message.to_string()
    };
    let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let cases = [
        (
            "malformed JSON",
            "{\"schema_version\": 1, ".to_owned(),
            "malformed",
        ),
        (
            "unknown kind",
            with("/subject/kind", "teleport".into()),
            "unknown variant",
        ),
        (
            "invalid PEM",
            with(
                "/subject/certificate_pem",
                "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----".into(),
            ),
            "invalid certificate PEM",
        ),
        (
            "PEM/id mismatch",
            with("/subject/certificate_pem", other.pem.clone().into()),
            "mismatch",
        ),
        (
            "private key",
            with(
                "/subject/certificate_pem",
                format!("{}{key}", device.pem).into(),
            ),
            "PRIVATE KEY",
        ),
    ];
    for (_, body, _) in &cases {
        p.send_raw(&format!("cert#{}", device.id), body).await;
    }
    let report = p.drain().await;
    assert_eq!(report.applied, 0, "{report:?}");
    assert!(report.rejected >= cases.len() as u64, "{report:?}");

    // Over 256 KiB cannot even be queued; the replicator refuses it all the same.
    let huge = format!("{}{}", good, " ".repeat(MAX_MESSAGE_BYTES));
    let single = [Delivery {
        message_id: "huge",
        group: None,
        body: &huge,
    }];
    let huge_report = apply_batch(
        &single,
        &p.rewrite,
        &p.dr,
        &p.ledger,
        dr_core::time::now_millis,
    )
    .await;
    assert_eq!(huge_report.failed, ["huge"]);
    assert_eq!(huge_report.rejected, 1);

    // Nothing partially written: neither certificate exists in DR.
    assert_eq!(status_in(&p, Side::Dr, &device.id).await, None);
    assert_eq!(status_in(&p, Side::Dr, &other.id).await, None);
    // Each poison message reached the DLQ after its redeliveries.
    let dead = p.dead_letters().await;
    assert_eq!(dead.len(), cases.len(), "{dead:?}");
    for (name, body, reason) in &cases {
        assert!(dead.contains(body), "{name} not in the DLQ");
        let error = dr_core::replication::ReplicationMessage::decode(body)
            .unwrap_err()
            .to_string();
        assert!(error.contains(reason), "{name}: {error}");
    }
}

#[tokio::test]
async fn a_parked_message_reaches_the_dlq_once_and_the_listing_gives_its_reason() {
    use dr_core::replication::service::DeadLetterSink;

    let p = Pipeline::new().await;
    let device = Device::self_signed(&unique("parked"));
    provision_device(&p, &device, SdkStatus::Active).await;
    let captured = p
        .capture(&cloudtrail(
            "RegisterCertificateWithoutCA",
            json!({"status": "ACTIVE"}),
            json!({"certificateId": device.id.as_str()}),
        ))
        .await;
    let (body, group) = (captured[0].encode().unwrap(), captured[0].subject.key());
    let delivery = Delivery {
        message_id: "replication-message-1",
        group: Some(&group),
        body: &body,
    };
    // The replicator parks; drctl lists (each under its own roles).
    let sink = dr_aws::dlq::SqsDeadLetterSink::connect(&p.replicator_session, &p.topology)
        .await
        .unwrap();
    // A batch retried after a crash parks the same message again: it is there once.
    for _ in 0..2 {
        sink.park(&delivery, "cannot apply: DR refused the registration")
            .await
            .unwrap();
    }

    // One parked without its body (it carried a private key): listed with the reason
    // recorded at parking, not the stub's own decoding error.
    let stub =
        dr_core::replication::service::withheld_body("{\"k\":\"-----BEGIN PRIVATE KEY-----\"}");
    let withheld = Delivery {
        message_id: "replication-message-2",
        group: Some("cert#withheld"),
        body: &stub,
    };
    sink.park(&withheld, "refused: a private key travels with the message")
        .await
        .unwrap();

    let operator = crate::helpers::as_operator(&p.topology).await;
    let dlq = dr_aws::dlq::ReplicationDlq::connect(&operator, &p.topology)
        .await
        .unwrap();
    let mut letters = dlq.list(10).await.unwrap();
    letters.sort_by(|a, b| a.group.cmp(&b.group));
    assert_eq!(letters.len(), 2, "{letters:#?}");
    let [letter, withheld] = &letters[..] else {
        unreachable!()
    };
    assert_eq!(letter.group, group);
    assert!(!letter.refused, "it decodes: replayable once DR is fixed");
    assert!(
        letter
            .what
            .ends_with("cannot apply: DR refused the registration"),
        "{letters:#?}"
    );
    assert!(withheld.refused, "{withheld:?}");
    assert_eq!(
        withheld.what, "refused: a private key travels with the message",
        "{withheld:?}"
    );
}

#[tokio::test]
async fn a_ledger_item_without_a_version_records_none_and_a_garbled_version_is_an_error() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use dr_core::replication::ApplyLedger;

    let p = Pipeline::new().await;
    let dynamodb = p.session.dynamodb(Side::Dr);
    let put = |subject: &str, version: Option<&str>| {
        let mut item = std::collections::HashMap::from([(
            "subject".to_owned(),
            AttributeValue::S(subject.to_owned()),
        )]);
        if let Some(version) = version {
            item.insert("version".to_owned(), AttributeValue::S(version.to_owned()));
        }
        dynamodb
            .put_item()
            .table_name(p.topology.replication.ledger_table.as_str())
            .set_item(Some(item))
            .send()
    };
    // What a reader can see of an item mid-UpdateItem in the sandbox: the key alone.
    put("thing#half-written", None).await.unwrap();
    put("thing#garbled", Some("not-a-version")).await.unwrap();

    assert_eq!(p.ledger.entry("thing#half-written").await.unwrap(), None);
    let error = p.ledger.entry("thing#garbled").await.unwrap_err();
    assert!(error.to_string().contains("no valid version"), "{error}");
}

/// A fleet CA deactivated in primary (its key compromised) stops vouching in DR within the
/// replication lag: DR's copy, registered by operators, goes INACTIVE with auto-registration
/// off, as primary's.
#[tokio::test]
async fn a_ca_deactivated_in_primary_is_inactive_in_dr() {
    use aws_sdk_iot::types::{AutoRegistrationStatus, CaCertificateStatus};
    let p = Pipeline::new().await;
    let ca = FleetCa::new(&unique("compromised-ca"));
    for side in [Side::Primary, Side::Dr] {
        p.session
            .iot(side)
            .register_ca_certificate()
            .ca_certificate(&ca.pem)
            .set_as_active(true)
            .allow_auto_registration(true)
            .send()
            .await
            .unwrap();
    }
    p.session
        .iot(Side::Primary)
        .update_ca_certificate()
        .certificate_id(ca.id.as_str())
        .new_status(CaCertificateStatus::Inactive)
        .new_auto_registration_status(AutoRegistrationStatus::Disable)
        .send()
        .await
        .unwrap();
    let published = p
        .capture(&cloudtrail(
            "UpdateCACertificate",
            json!({"certificateId": ca.id.as_str(), "newStatus": "INACTIVE",
                   "newAutoRegistrationStatus": "DISABLE"}),
            Value::Null,
        ))
        .await;
    assert_eq!(published.len(), 1);
    let report = p.drain().await;
    assert!(report.failed.is_empty(), "{report:?}");
    let in_dr = p
        .session
        .iot(Side::Dr)
        .describe_ca_certificate()
        .certificate_id(ca.id.as_str())
        .send()
        .await
        .unwrap();
    let description = in_dr.certificate_description().unwrap();
    assert_eq!(description.status(), Some(&CaCertificateStatus::Inactive));
    assert_eq!(
        description.auto_registration_status(),
        Some(&AutoRegistrationStatus::Disable)
    );
}

/// A thing type created with its properties (MQTT 5 propagating attributes, searchable
/// attributes) reaches DR with them, though the thing's message would create it bare; an
/// UpdateThingType in primary follows. Plain moto has no UpdateThingType and lets a second
/// CreateThingType replace the type: the launcher's patch makes it as AWS is.
#[tokio::test]
async fn a_thing_type_reaches_dr_with_its_properties_and_follows_updates() {
    use aws_sdk_iot::types::{Mqtt5Configuration, PropagatingAttribute, ThingTypeProperties};
    use dr_core::replication::ThingTypeRegistry;
    let p = Pipeline::new().await;
    let (type_name, thing) = (unique("wearable-type"), unique("typed-wearable"));
    let properties = |key: &str| {
        ThingTypeProperties::builder()
            .thing_type_description("wrist-worn monitor")
            .searchable_attributes("ward")
            .mqtt5_configuration(
                Mqtt5Configuration::builder()
                    .propagating_attributes(
                        PropagatingAttribute::builder()
                            .user_property_key(key)
                            .thing_attribute("ward")
                            .build(),
                    )
                    .build(),
            )
            .build()
    };
    let primary = p.session.iot(Side::Primary);
    primary
        .create_thing_type()
        .thing_type_name(&type_name)
        .thing_type_properties(properties("ward"))
        .send()
        .await
        .unwrap();
    primary
        .create_thing()
        .thing_name(&thing)
        .thing_type_name(&type_name)
        .send()
        .await
        .unwrap();
    let mut created = fixture("thing-created");
    created["thingName"] = thing.as_str().into();
    created["thingTypeName"] = type_name.as_str().into();
    let published = p.capture(&created).await;
    assert_eq!(
        published.len(),
        2,
        "the type beside the thing: {published:?}"
    );
    let report = p.drain().await;
    assert!(report.failed.is_empty(), "{report:?}");
    let in_dr = p.dr.thing_type(&type_name).await.unwrap().unwrap();
    assert_eq!(
        in_dr,
        p.primary.thing_type(&type_name).await.unwrap().unwrap()
    );
    assert_eq!(in_dr.propagating_attributes[0].user_property_key, "ward");

    // A second create with other properties is refused, as on AWS (plain moto replaces).
    let again = primary
        .create_thing_type()
        .thing_type_name(&type_name)
        .thing_type_properties(properties("unit"))
        .send()
        .await;
    assert!(again.is_err(), "CreateThingType replaced an existing type");

    primary
        .update_thing_type()
        .thing_type_name(&type_name)
        .thing_type_properties(properties("ward-id"))
        .send()
        .await
        .unwrap();
    p.capture(&cloudtrail(
        "UpdateThingType",
        json!({"thingTypeName": type_name}),
        Value::Null,
    ))
    .await;
    let report = p.drain().await;
    assert!(report.failed.is_empty(), "{report:?}");
    let updated = p.dr.thing_type(&type_name).await.unwrap().unwrap();
    assert_eq!(
        updated.propagating_attributes[0].user_property_key,
        "ward-id"
    );
}

/// A policy attached to a thing group (a ward's) does not stop another certificate's
/// deletion, as on AWS. Plain moto asks every policy target for a certificate id and answers
/// 500 to every DeleteCertificate in the account once a group holds a policy.
#[tokio::test]
async fn the_sandbox_deletes_a_certificate_while_a_thing_group_holds_a_policy() {
    let p = Pipeline::new().await;
    let iot = p.session.iot(Side::Primary);
    let (group, policy) = (unique("ward"), unique("ward-policy"));
    let document = policy_document(
        p.topology.primary.account_id.as_str(),
        p.topology.primary.region.as_str(),
    );
    iot.create_policy()
        .policy_name(&policy)
        .policy_document(document)
        .send()
        .await
        .unwrap();
    let group_arn = iot
        .create_thing_group()
        .thing_group_name(&group)
        .send()
        .await
        .unwrap()
        .thing_group_arn()
        .unwrap()
        .to_owned();
    iot.attach_policy()
        .policy_name(&policy)
        .target(&group_arn)
        .send()
        .await
        .unwrap();
    let device = Device::self_signed(&unique("retired-device"));
    iot.register_certificate_without_ca()
        .certificate_pem(&device.pem)
        .status(SdkStatus::Inactive)
        .send()
        .await
        .unwrap();
    iot.delete_certificate()
        .certificate_id(device.id.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(status_in(&p, Side::Primary, &device.id).await, None);
}
