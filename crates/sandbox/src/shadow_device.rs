//! A wearable that obeys its shadow, modelled in the two ways a device can track shadow
//! versions, so tests can show which one obeys DR after a failover.
//!
//! A shadow's version is per region: DR's counts DR's writes and sits far below primary's.
//! AWS tells devices that "a device can safely discard any messages that contain a version
//! number older than the one it is tracking" (Device Shadow service, "Message order"), and
//! the AWS IoT Device SDK for Embedded C (v3, `aws_iot_shadow_records.c`) does exactly that
//! by default: `shadowDiscardOldDeltaFlag` starts `true`, a delta is used only when its
//! version is greater than the one tracked, and the tracked version is a process-wide number
//! that no reconnect resets — only `aws_iot_shadow_reset_last_received_version()` does.
//! Such a device, after following the custom domain to DR, discards every change a clinician
//! makes in DR until DR's version overtakes primary's.
//!
//! * [`VersionRule::EmbeddedCDefault`] — the SDK's default: the highest version heard on any
//!   connection is kept, a delta at or below it is discarded. It does not GET on connect (the
//!   SDK does not; an application that does, without resetting, still discards every later
//!   delta: the SDK's `get/accepted` only ever raises the tracked version).
//! * [`VersionRule::FollowsContract`] — the README's device contract: on every new connection,
//!   forget the tracked version and GET the shadow, take its desired state and version, then
//!   trust deltas newer than that.
//!
//! What is modelled and what is not: the sandbox's shadow service (moto) has no MQTT, so a
//! device here reads its shadow over the HTTPS data plane (GetThingShadow) of the side it is
//! connected to, and "receiving a delta" is [`ShadowDevice::receive_delta`]: a GET whose
//! desired state differs from what the device applied, carrying the document's version — the
//! difference AWS would publish on `/update/delta`, with the version AWS would put on it. The
//! device's applied state stands in for its reported state (it does not write `reported`, so
//! it adds no versions of its own). The version rule, which is what decides whether a patient's
//! wearable obeys DR, is the SDK's.

use dr_core::ids::ThingName;
use dr_core::port::PortError;
use dr_core::replication::shadow::ShadowDocument;
use dr_core::replication::ShadowStore;
use dr_core::Side;
use serde_json::{Map, Value};

/// How a device treats shadow versions across connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRule {
    /// The Embedded C SDK's default: track the highest version ever heard, discard a delta
    /// at or below it, keep the tracking across reconnects.
    EmbeddedCDefault,
    /// The device contract: every new connection resets the tracking and GETs the shadow
    /// before trusting deltas.
    FollowsContract,
}

/// What a device made of the latest shadow document it heard.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    /// Desired state matched what the device already applied: no delta to act on.
    NoDelta,
    /// The delta was applied: `changes` (desired leaves that differed) at `version`.
    Applied {
        /// The document's version on the side the device is connected to.
        version: u64,
        /// The leaves the device changed, shaped like `desired`.
        changes: Value,
    },
    /// The delta was discarded as older than the version the device tracks.
    Discarded {
        /// The delta's version.
        version: u64,
        /// The version the device tracked when it discarded it.
        tracked: u64,
        /// What the device would have changed.
        changes: Value,
    },
}

/// Which shadow message a document came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Message {
    /// The answer to the device's own `/get`: the whole document, delta or not.
    GetAccepted,
    /// `/update/delta`: published only when desired differs from reported.
    Delta,
}

/// A device connected to one side's shadow service at a time.
pub struct ShadowDevice<S> {
    thing: ThingName,
    rule: VersionRule,
    connection: Option<(Side, S)>,
    tracked_version: Option<u64>,
    applied: Map<String, Value>,
}

impl<S: ShadowStore> ShadowDevice<S> {
    /// A device for `thing`'s classic shadow, not connected yet, with nothing applied.
    pub fn new(thing: ThingName, rule: VersionRule) -> Self {
        Self {
            thing,
            rule,
            connection: None,
            tracked_version: None,
            applied: Map::new(),
        }
    }

    /// A new connection, to `side`'s shadow service (after a failover: the custom domain
    /// now leads to DR). A device following the contract resets its tracking and GETs its
    /// shadow here; the SDK's default keeps what it tracked.
    pub async fn connect(&mut self, side: Side, shadows: S) -> Result<(), PortError> {
        let (_, shadows) = self.connection.insert((side, shadows));
        if self.rule == VersionRule::FollowsContract {
            let document = shadows.shadow(&self.thing, None).await?;
            // The version this device tracked counts another region's writes (or an older
            // life of this one): it says nothing about this connection's documents. Without
            // this line the GET below is discarded like the SDK's default discards it.
            self.tracked_version = None;
            if let Some(document) = document {
                self.hear(&document, Message::GetAccepted);
            }
        }
        Ok(())
    }

    /// Hear the shadow's current delta on the connected side and act on it by the device's
    /// version rule. Not connected: a permanent error (a test's mistake).
    pub async fn receive_delta(&mut self) -> Result<Heard, PortError> {
        let Some((_, shadows)) = &self.connection else {
            return Err(PortError::permanent(
                "GetThingShadow",
                "the device is not connected: call connect first",
            ));
        };
        Ok(match shadows.shadow(&self.thing, None).await? {
            Some(document) => self.hear(&document, Message::Delta),
            None => Heard::NoDelta,
        })
    }

    /// The version rule, the same for a GET's answer and a delta (as in the SDK, where
    /// `get/accepted` and `update/delta` both feed the one tracked version): a document at
    /// or below the tracked version is discarded, a newer one is applied and tracked.
    fn hear(&mut self, document: &ShadowDocument, message: Message) -> Heard {
        let changes = self.delta(document);
        let unchanged = changes.as_object().is_none_or(Map::is_empty);
        if unchanged && message == Message::Delta {
            // AWS publishes no delta when desired matches reported.
            return Heard::NoDelta;
        }
        if let Some(tracked) = self.tracked_version.filter(|t| document.version <= *t) {
            return if unchanged {
                Heard::NoDelta
            } else {
                Heard::Discarded {
                    version: document.version,
                    tracked,
                    changes,
                }
            };
        }
        self.tracked_version = Some(document.version);
        self.apply(&changes);
        if unchanged {
            Heard::NoDelta
        } else {
            Heard::Applied {
                version: document.version,
                changes,
            }
        }
    }

    /// The side the device is connected to.
    pub fn side(&self) -> Option<Side> {
        self.connection.as_ref().map(|(side, _)| *side)
    }

    /// The version the device tracks (none: it has heard nothing since it last reset).
    pub fn tracked_version(&self) -> Option<u64> {
        self.tracked_version
    }

    /// The value the device runs with for a top-level setting (e.g. a heart-rate alarm
    /// threshold), if it ever applied one.
    pub fn setting(&self, key: &str) -> Option<&Value> {
        self.applied.get(key)
    }

    /// Desired leaves that differ from what the device applied, shaped like `desired`.
    fn delta(&self, document: &ShadowDocument) -> Value {
        let desired = document.state.desired.as_ref().and_then(Value::as_object);
        Value::Object(desired.map_or_else(Map::new, |d| differing(d, &self.applied)))
    }

    fn apply(&mut self, changes: &Value) {
        if let Some(changes) = changes.as_object() {
            merge_into(&mut self.applied, changes);
        }
    }
}

/// The leaves of `desired` that `applied` lacks or holds differently (AWS's delta: desired
/// fields absent from or different in reported; a null desired leaf is a deletion, which a
/// document never holds).
fn differing(desired: &Map<String, Value>, applied: &Map<String, Value>) -> Map<String, Value> {
    desired
        .iter()
        .filter_map(|(key, wanted)| match (wanted, applied.get(key)) {
            (Value::Object(wanted), Some(Value::Object(have))) => {
                let inner = differing(wanted, have);
                (!inner.is_empty()).then(|| (key.clone(), Value::Object(inner)))
            }
            (wanted, have) if have != Some(wanted) => Some((key.clone(), wanted.clone())),
            _ => None,
        })
        .collect()
}

fn merge_into(applied: &mut Map<String, Value>, changes: &Map<String, Value>) {
    for (key, change) in changes {
        match (applied.get_mut(key), change) {
            (Some(Value::Object(have)), Value::Object(change)) => merge_into(have, change),
            _ => {
                applied.insert(key.clone(), change.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;

    /// One region's shadow service holding one classic shadow; every write is a version.
    #[derive(Default)]
    struct Region {
        document: Mutex<Option<ShadowDocument>>,
    }

    impl Region {
        fn desire(&self, desired: Value) {
            let mut document = self.document.lock().unwrap();
            let next = document.get_or_insert_with(ShadowDocument::default);
            let mut merged = next
                .state
                .desired
                .take()
                .and_then(|d| d.as_object().cloned())
                .unwrap_or_default();
            merge_into(&mut merged, desired.as_object().unwrap());
            next.state.desired = Some(Value::Object(merged));
            next.version += 1;
        }

        fn version(&self) -> u64 {
            self.document
                .lock()
                .unwrap()
                .as_ref()
                .map_or(0, |d| d.version)
        }
    }

    impl ShadowStore for &Region {
        async fn shadow(
            &self,
            _: &ThingName,
            _: Option<&str>,
        ) -> Result<Option<ShadowDocument>, PortError> {
            Ok(self.document.lock().unwrap().clone())
        }
        async fn update_shadow(
            &self,
            _: &ThingName,
            _: Option<&str>,
            _: &Value,
        ) -> Result<(), PortError> {
            unreachable!("devices here do not write their shadow")
        }
        async fn shadow_names(&self, _: &ThingName) -> Result<Vec<String>, PortError> {
            Ok(Vec::new())
        }
        async fn delete_shadow(&self, _: &ThingName, _: Option<&str>) -> Result<(), PortError> {
            unreachable!("devices here do not delete their shadow")
        }
    }

    /// Primary's shadow at version 40, DR's (replicated, written once) at 1, both asking
    /// for `hr_high` 110.
    fn two_regions() -> (Region, Region) {
        let (primary, dr) = (Region::default(), Region::default());
        for threshold in 71..=110 {
            primary.desire(json!({"hr_high": threshold}));
        }
        dr.desire(json!({"hr_high": 110}));
        (primary, dr)
    }

    async fn device_after_failover<'a>(
        rule: VersionRule,
        primary: &'a Region,
        dr: &'a Region,
    ) -> ShadowDevice<&'a Region> {
        let mut device = ShadowDevice::new("wearable-1".parse().unwrap(), rule);
        device.connect(Side::Primary, primary).await.unwrap();
        device.receive_delta().await.unwrap();
        assert_eq!(device.tracked_version(), Some(40));
        device.connect(Side::Dr, dr).await.unwrap();
        device
    }

    #[tokio::test]
    async fn the_sdk_default_discards_a_dr_delta_older_than_the_version_tracked_in_primary() {
        // Given a device that tracked primary's version 40, now connected to DR (version 1)
        let (primary, dr) = two_regions();
        let mut device = device_after_failover(VersionRule::EmbeddedCDefault, &primary, &dr).await;
        // When a clinician lowers the threshold in DR (version 2)
        dr.desire(json!({"hr_high": 95}));
        // Then the device discards it and keeps primary's threshold
        assert_eq!(
            device.receive_delta().await.unwrap(),
            Heard::Discarded {
                version: 2,
                tracked: 40,
                changes: json!({"hr_high": 95})
            }
        );
        assert_eq!(device.setting("hr_high"), Some(&json!(110)));
    }

    #[tokio::test]
    async fn a_device_following_the_contract_obeys_dr_after_failover() {
        let (primary, dr) = two_regions();
        let mut device = device_after_failover(VersionRule::FollowsContract, &primary, &dr).await;
        assert_eq!(
            device.tracked_version(),
            Some(1),
            "DR's version, from the GET"
        );
        dr.desire(json!({"hr_high": 95}));
        assert_eq!(
            device.receive_delta().await.unwrap(),
            Heard::Applied {
                version: 2,
                changes: json!({"hr_high": 95})
            }
        );
        assert_eq!(device.setting("hr_high"), Some(&json!(95)));
        assert_eq!(device.receive_delta().await.unwrap(), Heard::NoDelta);
    }

    #[tokio::test]
    async fn the_contract_takes_what_dr_holds_at_connect_even_below_the_old_version() {
        // A change made in DR before the device reached it arrives in the GET, not as a delta.
        let (primary, dr) = two_regions();
        dr.desire(json!({"sampling_hz": 50}));
        let device = device_after_failover(VersionRule::FollowsContract, &primary, &dr).await;
        assert_eq!(device.setting("sampling_hz"), Some(&json!(50)));
        assert_eq!(device.side(), Some(Side::Dr));
    }

    #[tokio::test]
    async fn both_rules_discard_a_reordered_older_delta_on_the_same_connection() {
        // The rule AWS wrote it for: on one connection, an older delta is stale for both.
        for rule in [VersionRule::EmbeddedCDefault, VersionRule::FollowsContract] {
            let (primary, _) = two_regions();
            let mut device = ShadowDevice::new("wearable-1".parse().unwrap(), rule);
            device.connect(Side::Primary, &primary).await.unwrap();
            device.receive_delta().await.unwrap();
            // A document at the tracked version with a different value: what an older
            // delta delivered late looks like to the device.
            primary
                .document
                .lock()
                .unwrap()
                .as_mut()
                .unwrap()
                .state
                .desired = Some(json!({"hr_high": 80}));
            assert!(
                matches!(
                    device.receive_delta().await.unwrap(),
                    Heard::Discarded {
                        version: 40,
                        tracked: 40,
                        ..
                    }
                ),
                "{rule:?}"
            );
            assert_eq!(primary.version(), 40);
        }
    }

    #[test]
    fn a_delta_holds_only_the_leaves_that_differ() {
        let applied = json!({"hr_high": 110, "alerts": {"spo2_low": 90, "tone": "soft"}});
        let desired =
            json!({"hr_high": 110, "alerts": {"spo2_low": 88, "tone": "soft"}, "rate": 25});
        assert_eq!(
            Value::Object(differing(
                desired.as_object().unwrap(),
                applied.as_object().unwrap()
            )),
            json!({"alerts": {"spo2_low": 88}, "rate": 25})
        );
    }
}
