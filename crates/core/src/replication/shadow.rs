//! Device shadows (classic and named): the documents primary's shadow service publishes on
//! each update, and the merge that brings DR's shadow to primary's without ever undoing a
//! state DR wrote itself (after a failover, devices and apps write DR's shadows).
//!
//! Shadow versions and timestamps are per region: DR's metadata timestamps are the
//! replicator's write times (primary's time plus the lag), so no clock says which side is
//! newer. The merge is three-way on values against a *base*: the last primary state DR
//! applied, kept in the ledger beside the applied version. A leaf DR still holds at the
//! base's value was not touched in DR: it follows primary. A leaf that differs from the base
//! was written in DR: it stays until primary's value meets it (a failback's catch-up).
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

/// What DR knows of the source's shadow as DR last applied it: the merge's base.
#[derive(Debug, Clone, Copy)]
pub enum Base<'a> {
    /// Nothing is known (no ledger, as for failback; or a shadow the replicator never
    /// wrote): the source is the truth, every differing leaf follows it.
    Unknown,
    /// The source's state DR last applied (empty: the shadow did not exist, or primary
    /// deleted it).
    Known(&'a ShadowState),
}

/// The update to send DR's shadow service (`{"state": {...}}`, nulls delete leaves), or
/// `None` when DR already holds the merged state.
pub fn merge(
    base: Base<'_>,
    current: &ShadowDocument,
    dr: Option<&ShadowDocument>,
) -> Option<Value> {
    let empty = ShadowDocument::default();
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
            base: match base {
                Base::Unknown => Part::Unknown,
                Base::Known(state) => Part::Known(pick(state)),
            },
            current: pick(&current.state),
            dr: pick(&dr.state),
        };
        if let Some(patch) = merge_object(&side) {
            state.insert(section.to_owned(), patch);
        }
    }
    (!state.is_empty()).then(|| serde_json::json!({ "state": Value::Object(state) }))
}

/// The base's part of one section or object: unknown, or known (`None`: no such key).
#[derive(Clone, Copy)]
enum Part<'a> {
    Unknown,
    Known(Option<&'a Value>),
}

/// One section (desired or reported), or one object within it, on the three sides.
struct Sides<'a> {
    base: Part<'a>,
    current: Option<&'a Value>,
    dr: Option<&'a Value>,
}

fn field<'a>(value: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    value.and_then(|v| v.get(key)).filter(|v| !v.is_null())
}

/// The patch for one object (`None`: nothing to change), recursing into objects.
fn merge_object(s: &Sides<'_>) -> Option<Value> {
    let mut keys: Vec<&String> = Vec::new();
    let base = match s.base {
        Part::Known(value) => value,
        Part::Unknown => None,
    };
    for v in [base, s.current, s.dr].into_iter().flatten() {
        if let Value::Object(map) = v {
            keys.extend(map.keys());
        }
    }
    keys.sort();
    keys.dedup();
    let mut patch = Map::new();
    for key in keys {
        let child = Sides {
            base: match s.base {
                Part::Known(base) => Part::Known(field(base, key)),
                Part::Unknown => Part::Unknown,
            },
            current: field(s.current, key),
            dr: field(s.dr, key),
        };
        let both_objects = matches!(
            (child.current, child.dr),
            (Some(Value::Object(_)), Some(Value::Object(_)))
        );
        let merged = if both_objects {
            merge_object(&child)
        } else {
            merge_leaf(&child)
        };
        if let Some(value) = merged {
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
    let untouched_in_dr = match s.base {
        Part::Known(base) => s.dr == base,
        Part::Unknown => true,
    };
    untouched_in_dr.then(|| s.current.cloned().unwrap_or(Value::Null))
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

impl ShadowDocument {
    /// Whether this shadow holds `state` (as [`same_state`] compares).
    pub fn holds(&self, state: &ShadowState) -> bool {
        let other = ShadowDocument {
            state: state.clone(),
            ..ShadowDocument::default()
        };
        same_state(Some(self), Some(&other))
    }
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

    fn doc(desired: Value, at: i64) -> ShadowDocument {
        ShadowDocument {
            state: ShadowState {
                desired: Some(desired),
                reported: None,
            },
            version: 1,
            timestamp: at,
            ..Default::default()
        }
    }

    /// DR's shadow after the replicator (or someone in DR) wrote `desired` at DR time `at`.
    fn in_dr(desired: Value, at: i64) -> ShadowDocument {
        apply_patch(
            &ShadowDocument::default(),
            &json!({"state": {"desired": desired}}),
            at,
        )
    }

    #[test]
    fn an_update_dr_has_not_seen_is_taken_and_taken_again_changes_nothing() {
        let base = doc(json!({"hr_high": 120}), 10);
        let current = doc(json!({"hr_high": 110}), 20);
        let dr = in_dr(json!({"hr_high": 120}), 15);
        let patch = merge(Base::Known(&base.state), &current, Some(&dr)).unwrap();
        assert_eq!(patch, json!({"state": {"desired": {"hr_high": 110}}}));
        let after = apply_patch(&dr, &patch, 25);
        assert_eq!(
            merge(Base::Known(&base.state), &current, Some(&after)),
            None
        );
    }

    #[test]
    fn dr_s_clock_never_decides_a_leaf_dr_did_not_change_follows_primary() {
        // DR applied primary's 120 (set at primary time 10) at DR time 30, after primary's
        // 110 at 20: DR's timestamp is newer, and still DR did not change the leaf.
        let base = doc(json!({"hr_high": 120}), 10);
        let current = doc(json!({"hr_high": 110}), 20);
        let dr = in_dr(json!({"hr_high": 120}), 30);
        assert_eq!(
            merge(Base::Known(&base.state), &current, Some(&dr)),
            Some(json!({"state": {"desired": {"hr_high": 110}}}))
        );
    }

    #[test]
    fn a_write_made_in_dr_stays_until_primary_s_value_meets_it() {
        let base = doc(json!({"hr_high": 120}), 10);
        let current = doc(json!({"hr_high": 110}), 20);
        // After a failover a clinician set 100 in DR; primary's update arrives late.
        let dr = in_dr(json!({"hr_high": 100}), 40);
        assert_eq!(merge(Base::Known(&base.state), &current, Some(&dr)), None);
        // Failback's catch-up gives primary DR's value; from then on DR follows again.
        let caught_up = doc(json!({"hr_high": 100}), 50);
        assert_eq!(
            merge(Base::Known(&current.state), &caught_up, Some(&dr)),
            None
        );
        let later = doc(json!({"hr_high": 90}), 60);
        assert_eq!(
            merge(Base::Known(&caught_up.state), &later, Some(&dr)),
            Some(json!({"state": {"desired": {"hr_high": 90}}}))
        );
    }

    #[test]
    fn without_a_base_the_source_is_the_truth() {
        let current = doc(json!({"hr_high": 110}), 20);
        let dr = in_dr(json!({"hr_high": 100, "extra": 1}), 40);
        assert_eq!(
            merge(Base::Unknown, &current, Some(&dr)),
            Some(json!({"state": {"desired": {"extra": null, "hr_high": 110}}}))
        );
    }

    #[test]
    fn a_leaf_primary_deleted_goes_unless_dr_rewrote_it() {
        let base = doc(json!({"a": 1, "b": 2}), 10);
        let current = doc(json!({"a": 1}), 20);
        let dr = in_dr(json!({"a": 1, "b": 2}), 12);
        assert_eq!(
            merge(Base::Known(&base.state), &current, Some(&dr)),
            Some(json!({"state": {"desired": {"b": null}}}))
        );
        let rewritten = apply_patch(&dr, &json!({"state": {"desired": {"b": 3}}}), 30);
        assert_eq!(
            merge(Base::Known(&base.state), &current, Some(&rewritten)),
            None
        );
    }

    #[test]
    fn nested_objects_merge_leaf_by_leaf() {
        let base = doc(json!({"alarm": {"hr": 120, "spo2": 90}}), 10);
        let current = doc(json!({"alarm": {"hr": 110, "spo2": 90}}), 20);
        let dr = in_dr(json!({"alarm": {"hr": 120, "spo2": 92}}), 40);
        // spo2 was changed in DR: kept. hr still holds the base's value: follows primary.
        assert_eq!(
            merge(Base::Known(&base.state), &current, Some(&dr)),
            Some(json!({"state": {"desired": {"alarm": {"hr": 110}}}}))
        );
    }

    fn leaf() -> impl Strategy<Value = Option<i64>> {
        prop::option::of(0i64..4)
    }

    proptest! {
        /// For any base, primary and DR value of one leaf, whatever the clocks: a DR value
        /// other than the base's is kept, a DR still at the base's follows primary, and
        /// merging again changes nothing.
        #[test]
        fn a_dr_write_is_never_undone_and_merging_twice_is_a_no_op(
            base in leaf(), cur in leaf(), dr_local in leaf(),
            t_primary in 0i64..300, t_dr in 0i64..300,
        ) {
            let as_doc = |v: Option<i64>, t: i64| match v {
                Some(v) => doc(json!({"x": v}), t),
                None => ShadowDocument { timestamp: t, ..Default::default() },
            };
            let (base, current) = (as_doc(base, 0), as_doc(cur, t_primary));
            let dr = match dr_local {
                Some(v) => in_dr(json!({"x": v}), t_dr),
                None => ShadowDocument::default(),
            };
            let base_value = base.state.desired.as_ref().and_then(|s| s.get("x")).and_then(Value::as_i64);
            let merged = match merge(Base::Known(&base.state), &current, Some(&dr)) {
                Some(patch) => apply_patch(&dr, &patch, t_dr + 1),
                None => dr.clone(),
            };
            let value = |d: &ShadowDocument| d.state.desired.as_ref().and_then(|s| s.get("x")).and_then(Value::as_i64);
            if dr_local == base_value {
                prop_assert_eq!(value(&merged), cur, "an untouched DR leaf did not follow primary");
            } else {
                prop_assert_eq!(value(&merged), dr_local, "a DR write was undone");
            }
            prop_assert_eq!(merge(Base::Known(&base.state), &current, Some(&merged)), None);
        }
    }
}
