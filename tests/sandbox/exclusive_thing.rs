//! A certificate attached to its thing exclusively (EXCLUSIVE_THING): the sandbox keeps the
//! association as AWS does, and the real capture and replicator binaries carry it to DR,
//! where a device whose client id is not its thing name still reaches its thing, and so its
//! group's policy.

use aws_sdk_iot::types::{CertificateStatus as SdkStatus, ThingPrincipalType};
use dr_core::replication::records::ThingAssociation;
use dr_core::replication::{CertificateRegistry, ThingGroupRegistry};
use dr_core::{Side, ThingGroupName, ThingName};
use dr_sandbox::devices::FleetCa;
use serde_json::{json, Value};

use crate::helpers::unique;
use crate::pipeline::Pipeline;
use crate::thing_groups::{DrEndpoint, Wiring};

/// The code of a refused call.
fn code<E: aws_sdk_iot::error::ProvideErrorMetadata, R>(
    error: &aws_sdk_iot::error::SdkError<E, R>,
) -> Option<&str> {
    error.as_service_error().and_then(|e| e.code())
}

/// The launcher's patch bites: moto alone drops `thingPrincipalType`, lets a second thing
/// share a principal held exclusively, and its v2 listings say nothing of the association,
/// filter nothing and never page.
#[tokio::test]
async fn the_sandbox_keeps_an_exclusive_association_and_refuses_a_second_thing_beside_it() {
    let p = Pipeline::new().await;
    let iot = p.session.iot(Side::Primary);
    let ca = FleetCa::new(&unique("exclusive-ca"));
    let [own, other, spare] = ["wearable", "wearable", "wearable"].map(unique);
    let device = ca.sign_canary(&own);
    iot.register_certificate_without_ca()
        .certificate_pem(&device.device.pem)
        .status(SdkStatus::Active)
        .send()
        .await
        .unwrap();
    for thing in [&own, &other, &spare] {
        iot.create_thing().thing_name(thing).send().await.unwrap();
    }
    let principal = p.primary.certificate_arn(&device.device.id);
    let attach = |thing: &str, association: ThingPrincipalType| {
        iot.attach_thing_principal()
            .thing_name(thing)
            .principal(&principal)
            .thing_principal_type(association)
            .send()
    };
    let things =
        |association: Option<ThingPrincipalType>, max: Option<i32>, token: Option<String>| {
            iot.list_principal_things_v2()
                .principal(&principal)
                .set_thing_principal_type(association)
                .set_max_results(max)
                .set_next_token(token)
                .send()
        };

    attach(&own, ThingPrincipalType::ExclusiveThing)
        .await
        .unwrap();
    let beside = attach(&other, ThingPrincipalType::NonExclusiveThing)
        .await
        .unwrap_err();
    assert_eq!(code(&beside), Some("InvalidRequestException"), "{beside:?}");
    let listed = things(None, None, None).await.unwrap();
    let objects = listed.principal_thing_objects();
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert_eq!(objects[0].thing_name(), own);
    assert_eq!(
        objects[0].thing_principal_type(),
        Some(&ThingPrincipalType::ExclusiveThing)
    );
    let principals = iot
        .list_thing_principals_v2()
        .thing_name(&own)
        .send()
        .await
        .unwrap();
    assert_eq!(
        principals.thing_principal_objects()[0].thing_principal_type(),
        Some(&ThingPrincipalType::ExclusiveThing)
    );

    // Released (the detachment propagates in a moment), two things share it; an exclusive
    // attach beside them is refused.
    iot.detach_thing_principal()
        .thing_name(&own)
        .principal(&principal)
        .send()
        .await
        .unwrap();
    for _ in 0..50 {
        let listed = things(None, None, None).await.unwrap();
        if listed.principal_thing_objects().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    attach(&other, ThingPrincipalType::NonExclusiveThing)
        .await
        .unwrap();
    attach(&spare, ThingPrincipalType::NonExclusiveThing)
        .await
        .unwrap();
    let exclusive = attach(&own, ThingPrincipalType::ExclusiveThing)
        .await
        .unwrap_err();
    assert_eq!(
        code(&exclusive),
        Some("InvalidRequestException"),
        "{exclusive:?}"
    );

    // Filtered by association, and paged.
    let none = things(Some(ThingPrincipalType::ExclusiveThing), None, None)
        .await
        .unwrap();
    assert!(none.principal_thing_objects().is_empty(), "{none:?}");
    let first = things(Some(ThingPrincipalType::NonExclusiveThing), Some(1), None)
        .await
        .unwrap();
    assert_eq!(first.principal_thing_objects().len(), 1, "{first:?}");
    let token = first.next_token().map(str::to_owned);
    assert!(token.is_some(), "a second page: {first:?}");
    let second = things(None, Some(1), token).await.unwrap();
    let mut names: Vec<&str> = first
        .principal_thing_objects()
        .iter()
        .chain(second.principal_thing_objects())
        .map(|o| o.thing_name())
        .collect();
    names.sort_unstable();
    let mut expected = [other.as_str(), spare.as_str()];
    expected.sort_unstable();
    assert_eq!(names, expected);
    assert_eq!(second.next_token(), None);

    // Unknown principals and things are not found.
    let unknown = iot
        .list_principal_things_v2()
        .principal(p.primary.certificate_arn(&"0".repeat(64).parse().unwrap()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&unknown),
        Some("ResourceNotFoundException"),
        "{unknown:?}"
    );
    let no_thing = iot
        .list_thing_principals_v2()
        .thing_name(unique("no-such-thing"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&no_thing),
        Some("ResourceNotFoundException"),
        "{no_thing:?}"
    );
}

/// Replicated EXCLUSIVE, a device connecting to DR with a client id that is not its thing
/// name is allowed by its ward's policy (`client/${iot:Connection.Thing.ThingName}-*`);
/// attached the default way in DR, the same connection is refused.
#[tokio::test]
async fn an_exclusive_association_reaches_dr_and_its_group_s_policy_allows_a_client_id_other_than_the_thing_name(
) {
    let p = Pipeline::new().await;
    let wiring = Wiring::start(&p).await;
    let iot = p.session.iot(Side::Primary);
    let (ward, policy) = (unique("ward"), unique("ward-sessions"));
    let group_arn = p.primary.thing_group_arn(&ward.parse().unwrap());

    // Primary: a ward whose policy lets a thing's devices connect as `<thing name>-<anything>`.
    let document = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "iot:Connect",
        "Resource": format!("arn:aws:iot:{}:{}:client/${{iot:Connection.Thing.ThingName}}-*",
            p.topology.primary.region, p.topology.primary.account_id)}]});
    iot.create_policy()
        .policy_name(&policy)
        .policy_document(document.to_string())
        .send()
        .await
        .unwrap();
    wiring.create_group(&iot, &ward, None).await;
    iot.attach_policy()
        .policy_name(&policy)
        .target(&group_arn)
        .send()
        .await
        .unwrap();
    wiring
        .called(
            "AttachPolicy",
            json!({"policyName": policy, "target": group_arn}),
            Value::Null,
        )
        .await;

    // A wearable in the ward, its certificate attached to its thing exclusively.
    let ca = FleetCa::new(&unique("exclusive-ca"));
    let thing = unique("wearable");
    let device = ca.sign_canary(&thing);
    iot.register_certificate_without_ca()
        .certificate_pem(&device.device.pem)
        .status(SdkStatus::Active)
        .send()
        .await
        .unwrap();
    iot.create_thing().thing_name(&thing).send().await.unwrap();
    let certificate_arn = p.primary.certificate_arn(&device.device.id);
    iot.attach_thing_principal()
        .thing_name(&thing)
        .principal(&certificate_arn)
        .thing_principal_type(ThingPrincipalType::ExclusiveThing)
        .send()
        .await
        .unwrap();
    assert_eq!(
        wiring
            .called(
                "AttachThingPrincipal",
                json!({"thingName": thing, "principal": certificate_arn,
                    "thingPrincipalType": "EXCLUSIVE_THING"}),
                Value::Null,
            )
            .await,
        vec![format!("cert#{}", device.device.id)]
    );
    wiring.add_member(&iot, &ward, &thing).await;

    let (thing_name, ward_name): (ThingName, ThingGroupName) =
        (thing.parse().unwrap(), ward.parse().unwrap());
    let id = &device.device.id;
    wiring
        .deliver_until(async || {
            let links = p.dr.certificate_thing_associations(id).await.unwrap();
            let members = p.dr.thing_group_names(&thing_name).await.unwrap();
            let policies = p.dr.thing_group_policy_names(&ward_name).await.unwrap();
            links.get(&thing_name) == Some(&ThingAssociation::Exclusive)
                && members.contains(&ward_name)
                && !policies.is_empty()
        })
        .await;

    let dr_endpoint = DrEndpoint::start(&p, &ca, &device).await;
    let session = format!("{thing}-app");
    let allowed = dr_endpoint.connect(&session).await;
    assert!(allowed.healthy, "{allowed:?}");
    let stranger = dr_endpoint.connect("someone-else").await;
    assert!(!stranger.healthy, "{stranger:?}");

    // Attached the default way in DR, the client id no longer names the device's thing:
    // its group's policy no longer applies.
    p.dr.detach_thing(&thing_name, id).await.unwrap();
    p.dr.attach_thing(&thing_name, id, ThingAssociation::NonExclusive)
        .await
        .unwrap();
    assert_eq!(
        p.dr.certificate_thing_associations(id).await.unwrap()[&thing_name],
        ThingAssociation::NonExclusive
    );
    let refused = dr_endpoint.connect(&session).await;
    assert!(!refused.healthy, "{refused:?}");
    assert!(p.dead_letters().await.is_empty(), "nothing dead-lettered");
}
