//! The device contract's shadow rule, shown on the real replication pipeline: a shadow's
//! version is per region, so after a failover a wearable that keeps the version it tracked in
//! primary (the Embedded C SDK's default) ignores a clinician's change made in DR, and one
//! that resets its tracking and GETs its shadow on the new connection obeys it. See README
//! "What a device must do to work in DR" and `dr_sandbox::shadow_device` for what is modelled.

use dr_aws::iot::IotRegistry;
use dr_core::Side;
use dr_sandbox::shadow_device::{Heard, ShadowDevice, VersionRule};
use serde_json::{json, Value};

use crate::helpers::unique;
use crate::pipeline::Pipeline;
use crate::shadows::update_state;
use crate::thing_groups::Wiring;

/// How often the wearable re-reported an unchanged state in primary: enough for primary's
/// version to sit far above DR's, which writes only what changed.
const REPORTS_IN_PRIMARY: usize = 39;

async fn shadow_version(iot: &aws_sdk_iotdataplane::Client, thing: &str) -> u64 {
    let got = iot
        .get_thing_shadow()
        .thing_name(thing)
        .send()
        .await
        .unwrap();
    let document: Value = serde_json::from_slice(got.payload().unwrap().as_ref()).unwrap();
    document["version"].as_u64().unwrap()
}

#[tokio::test]
async fn after_failover_the_sdk_default_device_ignores_a_dr_delta_and_the_contract_device_applies_it(
) {
    let p = Pipeline::new().await;
    let wiring = Wiring::start(&p).await;
    let thing = unique("wearable");
    let (primary, dr) = (
        p.session.iot_data(Side::Primary),
        p.session.iot_data(Side::Dr),
    );
    p.session
        .iot(Side::Primary)
        .create_thing()
        .thing_name(&thing)
        .send()
        .await
        .unwrap();
    wiring.registry("CREATED", &thing).await;

    // The wearable's life in primary: a clinician's threshold, then the device's periodic
    // reports of the state it runs with, each one a version of primary's shadow and each
    // one handed to capture, as the shadow topic rules do.
    let mut events =
        vec![update_state(&primary, &thing, None, json!({"desired": {"hr_high": 110}})).await];
    for _ in 0..REPORTS_IN_PRIMARY {
        events.push(
            update_state(
                &primary,
                &thing,
                None,
                json!({"reported": {"hr_high": 110}}),
            )
            .await,
        );
    }
    for event in &events {
        assert_eq!(wiring.capture_raw(event).await.len(), 1, "{event}");
    }
    let name = thing.parse().unwrap();
    wiring
        .deliver_until(async || {
            use dr_core::replication::ShadowStore;
            p.queue_is_empty().await
                && p.dr.shadow(&name, None).await.unwrap().is_some_and(|d| {
                    d.state.desired == Some(json!({"hr_high": 110}))
                        && d.state.reported == Some(json!({"hr_high": 110}))
                })
        })
        .await;
    let primary_version = shadow_version(&primary, &thing).await;
    let replicated_version = shadow_version(&dr, &thing).await;
    // The premise the rule exists for (were DR's version not below primary's, every device
    // would obey DR and this test would prove nothing).
    assert!(
        replicated_version + 10 < primary_version,
        "DR's shadow is at version {replicated_version}, primary's at {primary_version}"
    );

    // Both wearables connect to primary and take the clinician's threshold.
    let side = |side| IotRegistry::for_side(&p.session, &p.topology, side);
    let mut sdk_default = ShadowDevice::new(name.clone(), VersionRule::EmbeddedCDefault);
    let mut contract = ShadowDevice::new(name.clone(), VersionRule::FollowsContract);
    for device in [&mut sdk_default, &mut contract] {
        device
            .connect(Side::Primary, side(Side::Primary))
            .await
            .unwrap();
        device.receive_delta().await.unwrap();
        assert_eq!(device.setting("hr_high"), Some(&json!(110)));
        assert_eq!(device.tracked_version(), Some(primary_version));
    }

    // Primary fails; the custom domain now leads to DR and both reconnect there.
    for device in [&mut sdk_default, &mut contract] {
        device.connect(Side::Dr, side(Side::Dr)).await.unwrap();
    }
    assert_eq!(sdk_default.tracked_version(), Some(primary_version));
    assert_eq!(contract.tracked_version(), Some(replicated_version));

    // A clinician lowers the alarm threshold in DR.
    dr.update_thing_shadow()
        .thing_name(&thing)
        .payload(aws_sdk_iotdataplane::primitives::Blob::new(
            json!({"state": {"desired": {"hr_high": 95}}}).to_string(),
        ))
        .send()
        .await
        .unwrap();
    let clinicians_version = replicated_version + 1;
    assert_eq!(shadow_version(&dr, &thing).await, clinicians_version);

    assert_eq!(
        sdk_default.receive_delta().await.unwrap(),
        Heard::Discarded {
            version: clinicians_version,
            tracked: primary_version,
            changes: json!({"hr_high": 95}),
        },
        "the SDK's default keeps primary's version and discards DR's change"
    );
    assert_eq!(sdk_default.setting("hr_high"), Some(&json!(110)));
    assert_eq!(
        contract.receive_delta().await.unwrap(),
        Heard::Applied {
            version: clinicians_version,
            changes: json!({"hr_high": 95}),
        },
        "the contract's device reset its tracking on connecting to DR"
    );
    assert_eq!(contract.setting("hr_high"), Some(&json!(95)));
    assert!(p.dead_letters().await.is_empty(), "nothing dead-lettered");
}
