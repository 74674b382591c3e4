//! Device shadows through the real capture and replicator binaries: the documents of each
//! update in primary (as the shadow topic rules hand them over) reach DR's shadows, classic
//! and named; a write made in DR (after a failover) is not undone by an older update still in
//! the queue; a deletion in primary deletes DR's, however late.

use std::time::Duration;

use aws_sdk_iotdataplane::primitives::Blob;
use dr_core::replication::ShadowStore;
use dr_core::Side;
use serde_json::{json, Value};

use crate::helpers::unique;
use crate::pipeline::Pipeline;
use crate::thing_groups::Wiring;

/// A shadow's document as the data plane returns it.
async fn document(
    iot: &aws_sdk_iotdataplane::Client,
    thing: &str,
    name: Option<&str>,
) -> Option<Value> {
    let got = iot
        .get_thing_shadow()
        .thing_name(thing)
        .set_shadow_name(name.map(str::to_owned))
        .send()
        .await
        .ok()?;
    serde_json::from_slice(got.payload()?.as_ref()).ok()
}

/// Update primary's shadow's desired state and return the documents event AWS IoT
/// publishes for it.
async fn update(
    iot: &aws_sdk_iotdataplane::Client,
    thing: &str,
    name: Option<&str>,
    desired: Value,
) -> Value {
    update_state(iot, thing, name, json!({ "desired": desired })).await
}

/// Send `state` (`desired`, `reported` or both) to a shadow and return the documents event
/// AWS IoT publishes for it.
pub(crate) async fn update_state(
    iot: &aws_sdk_iotdataplane::Client,
    thing: &str,
    name: Option<&str>,
    state: Value,
) -> Value {
    let previous = document(iot, thing, name).await;
    let answer = iot
        .update_thing_shadow()
        .thing_name(thing)
        .set_shadow_name(name.map(str::to_owned))
        .payload(Blob::new(json!({ "state": state }).to_string()))
        .send()
        .await
        .unwrap();
    // The update's own time: a GET's `timestamp` is when it answered.
    let accepted: Value = serde_json::from_slice(answer.payload().unwrap().as_ref()).unwrap();
    let timestamp = accepted["timestamp"].clone();
    let mut current = document(iot, thing, name).await.unwrap();
    current.as_object_mut().unwrap().remove("timestamp");
    let topic = match name {
        Some(name) => format!("$aws/things/{thing}/shadow/name/{name}/update/documents"),
        None => format!("$aws/things/{thing}/shadow/update/documents"),
    };
    json!({"previous": previous, "current": current, "timestamp": timestamp, "topic": topic})
}

fn desired(doc: Option<dr_core::replication::shadow::ShadowDocument>, key: &str) -> Value {
    doc.and_then(|d| d.state.desired)
        .and_then(|d| d.get(key).cloned())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn shadow_updates_reach_dr_and_never_undo_a_newer_write_made_in_dr() {
    let p = Pipeline::new().await;
    let wiring = Wiring::start(&p).await;
    let thing = unique("shadowed");
    let primary = p.session.iot_data(Side::Primary);
    p.session
        .iot(Side::Primary)
        .create_thing()
        .thing_name(&thing)
        .send()
        .await
        .unwrap();
    // The thing first (DR's shadow service keeps shadows of registered things).
    wiring.registry("CREATED", &thing).await;
    let name = thing.parse().unwrap();

    let capture = |event: Value| {
        let wiring = &wiring;
        async move {
            let published = wiring.capture_raw(&event).await;
            assert_eq!(published.len(), 1, "{published:?}");
            published
        }
    };
    capture(
        update(
            &primary,
            &thing,
            None,
            json!({"hr_high": 120, "sampling_hz": 25}),
        )
        .await,
    )
    .await;
    capture(update(&primary, &thing, None, json!({"hr_high": 110})).await).await;
    let named =
        capture(update(&primary, &thing, Some("alerts"), json!({"spo2_low": 90})).await).await;
    assert_eq!(named, vec![format!("shadow#{thing}#alerts")]);
    wiring
        .deliver_until(async || {
            desired(p.dr.shadow(&name, None).await.unwrap(), "hr_high") == json!(110)
                && desired(
                    p.dr.shadow(&name, Some("alerts")).await.unwrap(),
                    "spo2_low",
                ) == json!(90)
        })
        .await;
    assert_eq!(
        desired(p.dr.shadow(&name, None).await.unwrap(), "sampling_hz"),
        json!(25)
    );

    // An update captured in primary but still queued when DR took over; a clinician then
    // sets a threshold in DR, within the same second (no clock decides). The late update
    // must not undo it.
    capture(update(&primary, &thing, None, json!({"hr_high": 105})).await).await;
    p.session
        .iot_data(Side::Dr)
        .update_thing_shadow()
        .thing_name(&thing)
        .payload(Blob::new(
            json!({"state": {"desired": {"hr_high": 100}}}).to_string(),
        ))
        .send()
        .await
        .unwrap();
    wiring
        .deliver_until(async || p.queue_is_empty().await)
        .await;
    assert_eq!(
        desired(p.dr.shadow(&name, None).await.unwrap(), "hr_high"),
        json!(100),
        "DR's newer write kept"
    );

    // Primary deletes the named shadow: DR's goes too.
    primary
        .delete_thing_shadow()
        .thing_name(&thing)
        .shadow_name("alerts")
        .send()
        .await
        .unwrap();
    // DR's shadow holds what DR last applied from primary, so it goes. (Replayed minutes
    // late it goes all the same: `shadow_tests` in dr-core runs that on a clock.)
    let now = dr_core::time::now_millis() / 1000;
    capture(json!({"version": 2, "timestamp": now,
        "topic": format!("$aws/things/{thing}/shadow/name/alerts/delete/accepted")}))
    .await;
    wiring
        .deliver_until(async || p.dr.shadow(&name, Some("alerts")).await.unwrap().is_none())
        .await;
    assert!(p.dead_letters().await.is_empty(), "nothing dead-lettered");
}

/// The launcher's shadow patch bites: a GET's `timestamp` is its response time and an update
/// stamps only the leaves it sets, as AWS's shadow service does. Plain moto answers a GET
/// with the last write time and restamps every leaf, and fails both halves.
#[tokio::test]
async fn the_sandbox_answers_a_shadow_get_with_its_response_time_and_stamps_only_written_leaves() {
    let p = Pipeline::new().await;
    let thing = unique("stamped");
    p.session
        .iot(Side::Primary)
        .create_thing()
        .thing_name(&thing)
        .send()
        .await
        .unwrap();
    let iot = p.session.iot_data(Side::Primary);
    update(&iot, &thing, None, json!({"hr_high": 120})).await;
    let written = document(&iot, &thing, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let later = document(&iot, &thing, None).await.unwrap();
    assert!(
        later["timestamp"].as_i64().unwrap() >= written["timestamp"].as_i64().unwrap() + 2,
        "a GET two seconds later answers with a time two seconds later: {written} / {later}"
    );
    update(&iot, &thing, None, json!({"rate_hz": 25})).await;
    let both = document(&iot, &thing, None).await.unwrap();
    let stamp = |leaf: &str| {
        both["metadata"]["desired"][leaf]["timestamp"]
            .as_i64()
            .unwrap()
    };
    assert!(
        stamp("hr_high") + 2 <= stamp("rate_hz"),
        "hr_high keeps the time it was written: {both}"
    );
}
