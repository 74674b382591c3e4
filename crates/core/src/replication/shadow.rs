//! Device shadows (classic and named): the documents primary's shadow service publishes on
//! each update, and the merge that brings DR's shadow to primary's without ever making a
//! state DR wrote itself (after a failover, devices and apps write DR's shadows) go back.
//!
//! Shadow versions are per region, so they cannot say which side is newer. The rule is
//! per leaf, a three-way merge: primary's update says what the shadow was (`previous`)
//! and what it became (`current`). A leaf DR still holds at `previous`'s value was not
//! touched in DR: it takes `current`'s. A leaf DR changed on its own takes `current`'s only
//! if primary's metadata timestamp for it is newer than DR's (and keeps DR's otherwise).
//! Applying the same update twice is harmless: the second time DR already holds `current`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::ThingName;

/// A named shadow's name: 1–64 of letters, digits, `$`, `:`, `_` and `-` (the data plane's
/// `shadowName` pattern is `[$a-zA-Z0-9:_-]+`; unlike thing names it admits `$`). `None` is
/// the classic (unnamed) shadow.
pub fn valid_shadow_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"$:_-".contains(&b))
}

/// Which shadow: a thing's classic shadow, or one of its named shadows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowRef {
    /// The thing.
    pub thing_name: ThingName,
    /// The named shadow, or `None` for the classic one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_name: Option<String>,
}

/// One shadow document as the shadow service keeps it: state and per-leaf metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ShadowDocument {
    /// `desired` and `reported`.
    #[serde(default)]
    pub state: ShadowState,
    /// Per-leaf `{"timestamp": <epoch seconds>}`, shaped like `state`.
    #[serde(default)]
    pub metadata: ShadowState,
    /// This region's version of the shadow (not comparable across regions).
    #[serde(default)]
    pub version: u64,
    /// When the document was last written, epoch seconds.
    #[serde(default)]
    pub timestamp: i64,
}

/// The two halves of a shadow's state (or of its metadata).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ShadowState {
    /// What apps want the device to be (thresholds, sampling rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<Value>,
    /// What the device last said it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<Value>,
}

/// The update to send DR's shadow service (`{"state": {...}}`, nulls delete leaves), or
/// `None` when DR already holds the merged state.
pub fn merge(
    previous: Option<&ShadowDocument>,
    current: &ShadowDocument,
    dr: Option<&ShadowDocument>,
) -> Option<Value> {
    let empty = ShadowDocument::default();
    let previous = previous.unwrap_or(&empty);
    let dr = dr.unwrap_or(&empty);
    let mut state = Map::new();
    for (section, pick) in [
        (
            "desired",
            (|s: &ShadowState| s.desired.as_ref()) as fn(&ShadowState) -> Option<&Value>,
        ),
        ("reported", |s: &ShadowState| s.reported.as_ref()),
    ] {
        let side = Sides {
            previous: pick(&previous.state),
            current: pick(&current.state),
            current_meta: pick(&current.metadata),
            current_time: current.timestamp,
            dr: pick(&dr.state),
            dr_meta: pick(&dr.metadata),
        };
        if let Some(patch) = merge_object(&side) {
            state.insert(section.to_owned(), patch);
        }
    }
    (!state.is_empty()).then(|| serde_json::json!({ "state": Value::Object(state) }))
}

/// One section (desired or reported) on the three sides, with the metadata to decide by.
struct Sides<'a> {
    previous: Option<&'a Value>,
    current: Option<&'a Value>,
    current_meta: Option<&'a Value>,
    current_time: i64,
    dr: Option<&'a Value>,
    dr_meta: Option<&'a Value>,
}

fn field<'a>(value: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    value.and_then(|v| v.get(key)).filter(|v| !v.is_null())
}

/// The newest timestamp in a metadata subtree (a leaf's `{"timestamp": n}`, or the newest
/// of an object's or array's members).
fn newest(meta: Option<&Value>) -> Option<i64> {
    match meta? {
        Value::Object(map) => match map.get("timestamp").and_then(Value::as_i64) {
            Some(t) if map.len() == 1 => Some(t),
            _ => map.values().filter_map(|v| newest(Some(v))).max(),
        },
        Value::Array(items) => items.iter().filter_map(|v| newest(Some(v))).max(),
        _ => None,
    }
}

/// The patch for one object (`None`: nothing to change), recursing into objects.
fn merge_object(s: &Sides<'_>) -> Option<Value> {
    let mut keys: Vec<&String> = Vec::new();
    for v in [s.previous, s.current, s.dr].into_iter().flatten() {
        if let Value::Object(map) = v {
            keys.extend(map.keys());
        }
    }
    keys.sort();
    keys.dedup();
    let mut patch = Map::new();
    for key in keys {
        let (prev, cur, dr) = (
            field(s.previous, key),
            field(s.current, key),
            field(s.dr, key),
        );
        let child = Sides {
            previous: prev,
            current: cur,
            current_meta: field(s.current_meta, key),
            current_time: s.current_time,
            dr,
            dr_meta: field(s.dr_meta, key),
        };
        let both_objects = matches!((cur, dr), (Some(Value::Object(_)), Some(Value::Object(_))));
        if both_objects {
            if let Some(sub) = merge_object(&child) {
                patch.insert(key.clone(), sub);
            }
            continue;
        }
        if let Some(value) = merge_leaf(&child) {
            patch.insert(key.clone(), value);
        }
    }
    (!patch.is_empty()).then_some(Value::Object(patch))
}

/// What to write for one leaf (`Some(Null)` deletes it), or `None` to leave DR's.
fn merge_leaf(s: &Sides<'_>) -> Option<Value> {
    if s.dr == s.current {
        return None;
    }
    let untouched_in_dr = s.dr == s.previous;
    let primary_newer = || {
        // A deleted leaf has no metadata left: the update's own time stands for it.
        let primary = newest(s.current_meta).unwrap_or(s.current_time);
        newest(s.dr_meta).is_none_or(|dr| primary > dr)
    };
    if untouched_in_dr || primary_newer() {
        Some(s.current.cloned().unwrap_or(Value::Null))
    } else {
        None
    }
}

/// The same update applied to `dr` (as DR's shadow service would: nulls delete), with the
/// given write time stamped on the leaves it set. For tests and the in-memory fake.
pub fn apply_patch(dr: &ShadowDocument, patch: &Value, at: i64) -> ShadowDocument {
    fn put(state: &mut Option<Value>, meta: &mut Option<Value>, patch: &Value, at: i64) {
        let Value::Object(patch) = patch else {
            return;
        };
        let state = state.get_or_insert_with(|| Value::Object(Map::new()));
        let meta = meta.get_or_insert_with(|| Value::Object(Map::new()));
        for (key, value) in patch {
            let (Value::Object(s), Value::Object(m)) = (&mut *state, &mut *meta) else {
                return;
            };
            match value {
                Value::Null => {
                    s.remove(key);
                    m.remove(key);
                }
                Value::Object(_) => {
                    let mut sub_state = s.remove(key).filter(Value::is_object);
                    let mut sub_meta = m.remove(key).filter(Value::is_object);
                    put(&mut sub_state, &mut sub_meta, value, at);
                    s.insert(key.clone(), sub_state.expect("set by put"));
                    m.insert(key.clone(), sub_meta.expect("set by put"));
                }
                leaf => {
                    s.insert(key.clone(), leaf.clone());
                    m.insert(key.clone(), serde_json::json!({ "timestamp": at }));
                }
            }
        }
    }
    let mut next = dr.clone();
    if let Some(state) = patch.get("state") {
        for (section, state_slot, meta_slot) in [
            (
                "desired",
                &mut next.state.desired,
                &mut next.metadata.desired,
            ),
            (
                "reported",
                &mut next.state.reported,
                &mut next.metadata.reported,
            ),
        ] {
            if let Some(section_patch) = state.get(section) {
                put(state_slot, meta_slot, section_patch, at);
            }
        }
    }
    next.version += 1;
    next.timestamp = at;
    next
}

/// Whether two shadows hold the same desired and reported state; an empty section, and a
/// shadow with nothing in it, equal an absent one (the shadow service keeps no empty
/// leaves, so no update could make them differ).
pub fn same_state(a: Option<&ShadowDocument>, b: Option<&ShadowDocument>) -> bool {
    fn settled(value: Option<&serde_json::Value>) -> Option<&serde_json::Value> {
        value.filter(|v| !v.is_null() && v.as_object().is_none_or(|m| !m.is_empty()))
    }
    fn sections(
        d: Option<&ShadowDocument>,
    ) -> (Option<&serde_json::Value>, Option<&serde_json::Value>) {
        (
            settled(d.and_then(|d| d.state.desired.as_ref())),
            settled(d.and_then(|d| d.state.reported.as_ref())),
        )
    }
    sections(a) == sections(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn doc(desired: Value, meta: Value, at: i64) -> ShadowDocument {
        ShadowDocument {
            state: ShadowState {
                desired: Some(desired),
                reported: None,
            },
            metadata: ShadowState {
                desired: Some(meta),
                reported: None,
            },
            version: 1,
            timestamp: at,
        }
    }

    #[test]
    fn an_update_dr_has_not_seen_is_taken_and_taken_again_changes_nothing() {
        let previous = doc(
            json!({"hr_high": 120}),
            json!({"hr_high": {"timestamp": 10}}),
            10,
        );
        let current = doc(
            json!({"hr_high": 110}),
            json!({"hr_high": {"timestamp": 20}}),
            20,
        );
        // DR replicated `previous` at 15 (after primary's 10, before primary's 20).
        let dr = apply_patch(
            &ShadowDocument::default(),
            &json!({"state": {"desired": {"hr_high": 120}}}),
            15,
        );
        let patch = merge(Some(&previous), &current, Some(&dr)).unwrap();
        assert_eq!(patch, json!({"state": {"desired": {"hr_high": 110}}}));
        let after = apply_patch(&dr, &patch, 25);
        assert_eq!(merge(Some(&previous), &current, Some(&after)), None);
    }

    #[test]
    fn a_second_update_within_the_replication_lag_still_lands() {
        // DR applied primary's t=10 update at t=30, after primary's next update at t=20.
        let previous = doc(json!({"rate": 1}), json!({"rate": {"timestamp": 10}}), 10);
        let current = doc(json!({"rate": 2}), json!({"rate": {"timestamp": 20}}), 20);
        let dr = apply_patch(
            &ShadowDocument::default(),
            &json!({"state": {"desired": {"rate": 1}}}),
            30,
        );
        assert_eq!(
            merge(Some(&previous), &current, Some(&dr)),
            Some(json!({"state": {"desired": {"rate": 2}}}))
        );
    }

    #[test]
    fn a_newer_write_made_in_dr_is_never_undone_by_an_older_primary_update() {
        let previous = doc(
            json!({"hr_high": 120}),
            json!({"hr_high": {"timestamp": 10}}),
            10,
        );
        let current = doc(
            json!({"hr_high": 110}),
            json!({"hr_high": {"timestamp": 20}}),
            20,
        );
        // After failover a clinician set 100 in DR at 40; primary's t=20 update arrives late.
        let dr = apply_patch(
            &ShadowDocument::default(),
            &json!({"state": {"desired": {"hr_high": 100}}}),
            40,
        );
        assert_eq!(merge(Some(&previous), &current, Some(&dr)), None);
        // But a primary update newer than DR's own write wins.
        let later = doc(
            json!({"hr_high": 90}),
            json!({"hr_high": {"timestamp": 50}}),
            50,
        );
        assert_eq!(
            merge(Some(&current), &later, Some(&dr)),
            Some(json!({"state": {"desired": {"hr_high": 90}}}))
        );
    }

    #[test]
    fn a_leaf_primary_deleted_goes_unless_dr_rewrote_it_later() {
        let previous = doc(
            json!({"a": 1, "b": 2}),
            json!({"a": {"timestamp": 10}, "b": {"timestamp": 10}}),
            10,
        );
        let current = doc(json!({"a": 1}), json!({"a": {"timestamp": 10}}), 20);
        let dr = apply_patch(
            &ShadowDocument::default(),
            &json!({"state": {"desired": {"a": 1, "b": 2}}}),
            12,
        );
        assert_eq!(
            merge(Some(&previous), &current, Some(&dr)),
            Some(json!({"state": {"desired": {"b": null}}}))
        );
        let rewritten = apply_patch(&dr, &json!({"state": {"desired": {"b": 3}}}), 30);
        assert_eq!(merge(Some(&previous), &current, Some(&rewritten)), None);
    }

    #[test]
    fn nested_objects_merge_leaf_by_leaf() {
        let previous = doc(
            json!({"alarm": {"hr": 120, "spo2": 90}}),
            json!({"alarm": {"hr": {"timestamp": 10}, "spo2": {"timestamp": 10}}}),
            10,
        );
        let current = doc(
            json!({"alarm": {"hr": 110, "spo2": 90}}),
            json!({"alarm": {"hr": {"timestamp": 20}, "spo2": {"timestamp": 10}}}),
            20,
        );
        let dr = apply_patch(
            &ShadowDocument::default(),
            &json!({"state": {"desired": {"alarm": {"hr": 120, "spo2": 92}}}}),
            40,
        );
        // spo2 was changed in DR (at 40, newer than primary's 10): kept. hr still holds
        // `previous`'s value in DR, so it follows primary, whatever DR's timestamp says.
        assert_eq!(
            merge(Some(&previous), &current, Some(&dr)),
            Some(json!({"state": {"desired": {"alarm": {"hr": 110}}}}))
        );
    }

    fn leaf() -> impl Strategy<Value = Option<i64>> {
        prop::option::of(0i64..4)
    }

    proptest! {
        /// For any three values of one leaf: a DR write newer than primary's is kept, a DR
        /// still at `previous` takes `current`, and merging again changes nothing.
        #[test]
        fn desired_never_goes_back_and_merging_twice_is_a_no_op(
            prev in leaf(), cur in leaf(), dr_local in leaf(),
            t_prev in 0i64..100, dt in 1i64..100, t_dr in 0i64..300,
        ) {
            let as_doc = |v: Option<i64>, t: i64| match v {
                Some(v) => doc(json!({"x": v}), json!({"x": {"timestamp": t}}), t),
                None => ShadowDocument { timestamp: t, ..Default::default() },
            };
            let t_cur = t_prev + dt;
            let (previous, current) = (as_doc(prev, t_prev), as_doc(cur, t_cur));
            let dr = match dr_local {
                Some(v) => apply_patch(&ShadowDocument::default(), &json!({"state": {"desired": {"x": v}}}), t_dr),
                None => ShadowDocument::default(),
            };
            let merged = match merge(Some(&previous), &current, Some(&dr)) {
                Some(patch) => apply_patch(&dr, &patch, t_dr.max(t_cur) + 1),
                None => dr.clone(),
            };
            let value = |d: &ShadowDocument| d.state.desired.as_ref().and_then(|s| s.get("x")).and_then(Value::as_i64);
            if dr_local.is_some() && dr_local != prev && dr_local != cur && t_dr >= t_cur {
                prop_assert_eq!(value(&merged), dr_local, "a newer DR write was undone");
            }
            if dr_local == prev {
                prop_assert_eq!(value(&merged), cur, "an untouched DR leaf did not follow primary");
            }
            prop_assert_eq!(merge(Some(&previous), &current, Some(&merged)), None);
        }
    }
}
