//! A certificate attached to its thing exclusively (EXCLUSIVE_THING): the sandbox keeps the
//! association as AWS does.

use aws_sdk_iot::types::{CertificateStatus as SdkStatus, ThingPrincipalType};
use dr_core::Side;
use dr_sandbox::devices::FleetCa;

use crate::helpers::unique;
use crate::pipeline::Pipeline;

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
