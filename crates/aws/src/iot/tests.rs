//! The IoT adapter against the real SDK client and canned answers: paging, and which
//! answers it reads as "not there" or "already so".

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iot::operation::list_attached_policies::ListAttachedPoliciesOutput;
use aws_sdk_iot::operation::list_principal_things_v2::ListPrincipalThingsV2Output;
use aws_sdk_iot::types::{Policy, PrincipalThingObject, ThingPrincipalType};
use aws_sdk_iot::Client;
use aws_sdk_iotdataplane::operation::list_named_shadows_for_thing::ListNamedShadowsForThingOutput;
use aws_smithy_mocks::{mock, Rule};
use dr_core::certificate::{CertificateId, CertificatePem, CertificateStatus};
use dr_core::ids::{PolicyName, ThingName};
use dr_core::replication::ports::Registration;
use dr_core::replication::records::{PolicyRecord, ThingAssociation};
use dr_core::replication::{CertificateRegistry, ShadowStore};

use super::IotRegistry;
use crate::testing::{iot, iot_data, json_error};

/// A certificate id (64 hex digits).
const ID: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

fn registry(rules: &[&Rule]) -> IotRegistry {
    IotRegistry::new(
        iot(rules),
        "222222222222".parse().expect("an account id"),
        "us-west-2".parse().expect("a region"),
    )
}

fn id() -> CertificateId {
    ID.parse().expect("a certificate id")
}

fn policy(name: &str) -> PolicyName {
    name.parse().expect("a policy name")
}

fn policies(names: &[&str]) -> Vec<Policy> {
    names
        .iter()
        .map(|name| Policy::builder().policy_name(*name).build())
        .collect()
}

/// One page of a certificate's policies, answered to the request that carries `marker`.
fn policy_page(marker: Option<&'static str>, names: &[&str], next: Option<&str>) -> Rule {
    let page = policies(names);
    let next = next.map(str::to_owned);
    let arn = format!("arn:aws:iot:us-west-2:222222222222:cert/{ID}");
    mock!(Client::list_attached_policies)
        .match_requests(move |r| r.marker() == marker && r.target() == Some(arn.as_str()))
        .then_output(move || {
            ListAttachedPoliciesOutput::builder()
                .set_policies(Some(page.clone()))
                .set_next_marker(next.clone())
                .build()
        })
}

#[tokio::test]
async fn given_policies_on_three_pages_when_listing_a_certificates_policies_then_all_come_back_each_page_asked_with_the_last_marker(
) {
    let first = policy_page(None, &["fleet", "telemetry"], Some("page-2"));
    let second = policy_page(Some("page-2"), &["alerts"], Some("page-3"));
    let third = policy_page(Some("page-3"), &["ota"], None);
    let registry = registry(&[&first, &second, &third]);

    let names = registry.certificate_policy_names(&id()).await.unwrap();

    let expected: BTreeSet<_> = ["fleet", "telemetry", "alerts", "ota"]
        .into_iter()
        .map(policy)
        .collect();
    assert_eq!(names, expected);
    assert_eq!(
        [first.num_calls(), second.num_calls(), third.num_calls()],
        [1, 1, 1]
    );
    assert_eq!(
        registry.calls(),
        3,
        "each page is a call, paced and counted"
    );
}

#[tokio::test]
async fn given_things_on_three_pages_when_listing_a_certificates_things_then_the_next_token_is_passed_on_and_each_keeps_its_association(
) {
    let page = |token: Option<&'static str>,
                thing: &'static str,
                association: Option<ThingPrincipalType>,
                next: Option<&'static str>| {
        mock!(Client::list_principal_things_v2)
            .match_requests(move |r| r.next_token() == token && r.principal().is_some())
            .then_output(move || {
                ListPrincipalThingsV2Output::builder()
                    .principal_thing_objects(
                        PrincipalThingObject::builder()
                            .thing_name(thing)
                            .set_thing_principal_type(association.clone())
                            .build()
                            .expect("a thing name"),
                    )
                    .set_next_token(next.map(str::to_owned))
                    .build()
            })
    };
    let pages = [
        page(
            None,
            "wearable-1",
            Some(ThingPrincipalType::ExclusiveThing),
            Some("t2"),
        ),
        page(
            Some("t2"),
            "wearable-2",
            Some(ThingPrincipalType::NonExclusiveThing),
            Some("t3"),
        ),
        // Not stated: AWS's default.
        page(Some("t3"), "wearable-3", None, None),
    ];
    let registry = registry(&pages.iter().collect::<Vec<_>>());

    let things = registry
        .certificate_thing_associations(&id())
        .await
        .unwrap();

    let expected: BTreeMap<ThingName, ThingAssociation> = [
        ("wearable-1", ThingAssociation::Exclusive),
        ("wearable-2", ThingAssociation::NonExclusive),
        ("wearable-3", ThingAssociation::NonExclusive),
    ]
    .into_iter()
    .map(|(t, a)| (t.parse().unwrap(), a))
    .collect();
    assert_eq!(things, expected);
    assert!(pages.iter().all(|p| p.num_calls() == 1));
}

#[tokio::test]
async fn given_a_service_that_repeats_its_last_marker_when_paging_then_the_listing_stops() {
    let first = policy_page(None, &["fleet"], Some("page-2"));
    // Some services answer the last page with the marker they were sent.
    let last = policy_page(Some("page-2"), &["ota"], Some("page-2"));
    let registry = registry(&[&first, &last]);

    let names = registry.certificate_policy_names(&id()).await.unwrap();

    assert_eq!(names.len(), 2);
    assert_eq!(last.num_calls(), 1);
}

#[tokio::test]
async fn given_a_thing_gone_mid_listing_when_listing_its_shadows_then_it_has_none() {
    let first = mock!(aws_sdk_iotdataplane::Client::list_named_shadows_for_thing)
        .match_requests(|r| r.next_token().is_none() && r.page_size() == Some(100))
        .then_output(|| {
            ListNamedShadowsForThingOutput::builder()
                .results("vitals")
                .next_token("t2")
                .build()
        });
    let gone = mock!(aws_sdk_iotdataplane::Client::list_named_shadows_for_thing)
        .match_requests(|r| r.next_token() == Some("t2"))
        .then_http_response(|| json_error(404, "ResourceNotFoundException", "No such thing"));
    let registry = registry(&[]).with_data_plane(iot_data(&[&first, &gone]));

    let names = registry
        .shadow_names(&"wearable-1".parse().unwrap())
        .await
        .unwrap();

    assert!(names.is_empty(), "{names:?}");
    assert_eq!(registry.calls(), 2);
}

#[tokio::test]
async fn given_no_such_certificate_when_described_then_it_is_none() {
    let missing = mock!(Client::describe_certificate)
        .match_requests(|r| r.certificate_id() == Some(ID))
        .then_http_response(|| json_error(404, "ResourceNotFoundException", "not found"));
    let registry = registry(&[&missing]);

    assert_eq!(registry.certificate(&id()).await.unwrap(), None);
    assert_eq!(missing.num_calls(), 1);
}

#[tokio::test]
async fn given_a_certificate_already_gone_when_deleted_then_it_is_done() {
    let gone = mock!(Client::delete_certificate)
        .then_http_response(|| json_error(404, "ResourceNotFoundException", "not found"));

    registry(&[&gone]).delete_certificate(&id()).await.unwrap();

    assert_eq!(gone.num_calls(), 1);
}

/// The smallest PEM the domain accepts: one DER SEQUENCE.
fn pem() -> CertificatePem {
    CertificatePem::parse("-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n")
        .expect("a DER sequence")
}

#[tokio::test]
async fn given_a_certificate_registered_before_when_registered_again_then_it_already_existed() {
    let exists = mock!(Client::register_certificate_without_ca)
        .match_requests(|r| r.status().map(|s| s.as_str()) == Some("ACTIVE"))
        .then_http_response(|| json_error(409, "ResourceAlreadyExistsException", "exists"));

    let registered = registry(&[&exists])
        .register_certificate(&pem(), None, CertificateStatus::Active)
        .await
        .unwrap();

    assert_eq!(registered, Registration::AlreadyExisted);
}

#[tokio::test]
async fn given_a_throttled_registration_when_registering_then_the_error_is_retryable() {
    let throttled = mock!(Client::register_certificate).then_http_response(|| {
        json_error(
            400,
            "ThrottlingException",
            "Rate exceeded for RegisterCertificate",
        )
    });

    let error = registry(&[&throttled])
        .register_certificate(&pem(), Some("ca pem"), CertificateStatus::Active)
        .await
        .unwrap_err();

    assert!(error.retryable, "{error:?}");
    assert_eq!(error.operation, "RegisterCertificate");
}

#[tokio::test]
async fn given_a_policy_that_exists_when_ensured_twice_then_one_call_and_both_succeed() {
    let exists = mock!(Client::create_policy)
        .then_http_response(|| json_error(409, "ResourceAlreadyExistsException", "exists"));
    let registry = registry(&[&exists]);
    let record = PolicyRecord {
        policy_name: policy("fleet"),
        document: "{}".to_owned(),
    };

    registry.ensure_policy(&record).await.unwrap();
    registry.ensure_policy(&record).await.unwrap();

    assert_eq!(exists.num_calls(), 1, "the second is answered from memory");
}

#[tokio::test]
async fn given_a_policy_deleted_behind_our_back_when_attaching_then_a_retryable_error_and_the_policy_is_created_again(
) {
    let gone = mock!(Client::attach_policy)
        .then_http_response(|| json_error(404, "ResourceNotFoundException", "no policy"));
    let create = mock!(Client::create_policy).then_output(|| {
        aws_sdk_iot::operation::create_policy::CreatePolicyOutput::builder().build()
    });
    let registry = registry(&[&gone, &create]);
    let record = PolicyRecord {
        policy_name: policy("fleet"),
        document: "{}".to_owned(),
    };
    registry.ensure_policy(&record).await.unwrap();

    let error = registry
        .attach_policy(&record.policy_name, &id())
        .await
        .unwrap_err();
    registry.ensure_policy(&record).await.unwrap();

    assert!(error.retryable, "{error:?}");
    assert_eq!(create.num_calls(), 2, "forgotten, so ensured again");
}

/// Pauses short enough for a unit test; as many as production's.
const QUICK: &[std::time::Duration] = &[std::time::Duration::from_millis(1); 4];

fn still_attached() -> aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    json_error(
        400,
        "InvalidRequestException",
        "Cannot delete. Thing wearable-1 is still attached to one or more principals",
    )
}

fn thing(name: &str) -> ThingName {
    name.parse().expect("a thing name")
}

#[tokio::test]
async fn given_a_detachment_still_propagating_when_deleting_the_thing_then_it_is_tried_again_until_it_goes(
) {
    let delete = mock!(Client::delete_thing)
        .sequence()
        .http_response(still_attached)
        .times(2)
        .output(|| aws_sdk_iot::operation::delete_thing::DeleteThingOutput::builder().build())
        .build();
    let registry = registry(&[&delete]).with_detach_pauses(QUICK);

    registry.delete_thing(&thing("wearable-1")).await.unwrap();

    assert_eq!(delete.num_calls(), 3);
}

#[tokio::test]
async fn given_a_detachment_that_never_propagates_when_deleting_the_thing_then_a_retryable_error_after_every_pause(
) {
    let delete = mock!(Client::delete_thing).then_http_response(still_attached);
    let registry = registry(&[&delete]).with_detach_pauses(QUICK);

    let error = registry
        .delete_thing(&thing("wearable-1"))
        .await
        .unwrap_err();

    assert!(
        error.retryable,
        "the message comes again, never the DLQ: {error:?}"
    );
    assert!(error.message.contains("still attached"), "{error:?}");
    assert_eq!(delete.num_calls(), QUICK.len() + 1);
}

#[tokio::test]
async fn given_any_other_invalid_request_when_deleting_the_thing_then_it_fails_at_once() {
    let delete = mock!(Client::delete_thing)
        .then_http_response(|| json_error(400, "InvalidRequestException", "bad version"));
    let registry = registry(&[&delete]).with_detach_pauses(QUICK);

    let error = registry
        .delete_thing(&thing("wearable-1"))
        .await
        .unwrap_err();

    assert!(!error.retryable, "{error:?}");
    assert_eq!(delete.num_calls(), 1);
}

#[tokio::test]
async fn given_things_still_detaching_when_deleting_the_certificate_then_it_is_tried_again() {
    let delete = mock!(Client::delete_certificate)
        .sequence()
        .http_response(|| {
            json_error(
                409,
                "DeleteConflictException",
                "Things must be detached before deletion",
            )
        })
        .output(|| {
            aws_sdk_iot::operation::delete_certificate::DeleteCertificateOutput::builder().build()
        })
        .build();
    let registry = registry(&[&delete]).with_detach_pauses(QUICK);

    registry.delete_certificate(&id()).await.unwrap();

    assert_eq!(delete.num_calls(), 2);
}

#[tokio::test]
async fn given_a_certificate_that_is_gone_when_listing_its_things_then_none() {
    let gone = mock!(Client::list_principal_things_v2)
        .then_http_response(|| json_error(404, "ResourceNotFoundException", "no such principal"));
    let registry = registry(&[&gone]);

    assert!(registry.certificate_things(&id()).await.unwrap().is_empty());
}

/// AWS's refusal of an attach that would break an exclusive association (its text is not
/// documented; this is the sandbox's).
fn held_by_another_thing() -> aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    json_error(
        400,
        "InvalidRequestException",
        "Principal is attached to another thing; EXCLUSIVE_THING allows one",
    )
}

#[tokio::test]
async fn given_an_exclusive_attach_when_the_other_thing_s_detachment_is_still_propagating_then_it_is_tried_again(
) {
    let attach = mock!(Client::attach_thing_principal)
        .match_requests(|r| r.thing_principal_type() == Some(&ThingPrincipalType::ExclusiveThing))
        .sequence()
        .http_response(held_by_another_thing)
        .times(2)
        .output(|| {
            aws_sdk_iot::operation::attach_thing_principal::AttachThingPrincipalOutput::builder()
                .build()
        })
        .build();
    let registry = registry(&[&attach]).with_detach_pauses(QUICK);

    registry
        .attach_thing(&thing("wearable-1"), &id(), ThingAssociation::Exclusive)
        .await
        .unwrap();

    assert_eq!(attach.num_calls(), 3);
}

#[tokio::test]
async fn given_an_attach_refused_after_every_pause_then_the_error_is_retryable() {
    let attach = mock!(Client::attach_thing_principal).then_http_response(held_by_another_thing);
    let registry = registry(&[&attach]).with_detach_pauses(QUICK);

    let error = registry
        .attach_thing(&thing("wearable-1"), &id(), ThingAssociation::NonExclusive)
        .await
        .unwrap_err();

    assert!(
        error.retryable,
        "the message comes again, never the DLQ: {error:?}"
    );
    assert_eq!(attach.num_calls(), QUICK.len() + 1);
}

#[tokio::test]
async fn given_an_attach_to_a_thing_that_is_gone_then_it_fails_at_once() {
    let attach = mock!(Client::attach_thing_principal)
        .then_http_response(|| json_error(404, "ResourceNotFoundException", "no such thing"));
    let registry = registry(&[&attach]).with_detach_pauses(QUICK);

    let error = registry
        .attach_thing(&thing("wearable-1"), &id(), ThingAssociation::NonExclusive)
        .await
        .unwrap_err();

    assert_eq!(attach.num_calls(), 1, "{error:?}");
}
