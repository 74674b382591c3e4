//! Thing groups, role aliases and shadows end to end on in-memory registries: hierarchy,
//! memberships and group policies captured from a fake primary and applied to a fake DR, in
//! any order; role aliases mapped to DR's account; shadow updates merged into DR's shadows.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};

use proptest::prelude::*;

use super::fake::{rewrite, source_ref, FakeLedger, FakeRegistry, World};
use super::*;
use crate::ids::{PolicyName, ThingGroupName, ThingName};
use crate::replication::ports::{
    CertificateRegistry, ProvisioningTemplateRegistry, RoleAliasRegistry, ShadowStore,
    ThingGroupRegistry,
};
use crate::replication::records::{PolicyRecord, ThingRecord};

const WARD_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:111111111111:client/${iot:Connection.Thing.ThingName}"}]}"#;

fn group(name: &str) -> ThingGroupName {
    name.parse().unwrap()
}

fn thing(name: &str) -> ThingName {
    name.parse().unwrap()
}

fn ward_policy() -> PolicyName {
    "ward-devices".parse().unwrap()
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

/// Primary as a fake registry with a clock, capturing what each change touched.
struct Primary {
    registry: FakeRegistry,
    clock: AtomicI64,
}

impl Primary {
    fn new() -> Self {
        let registry = FakeRegistry::default();
        registry
            .world
            .lock()
            .unwrap()
            .policies
            .insert(ward_policy(), WARD_POLICY.to_owned());
        Self {
            registry,
            clock: AtomicI64::new(1_000),
        }
    }

    async fn capture(&self, trigger: Trigger) -> Vec<ReplicationMessage> {
        let event = CaptureEvent {
            cause: "test".to_owned(),
            event_time_ms: self.clock.load(Ordering::SeqCst),
            triggers: vec![trigger],
            subjects: Vec::new(),
            detached: Vec::new(),
        };
        capture(&event, &self.registry, &source_ref(), || {
            self.clock.fetch_add(1, Ordering::SeqCst)
        })
        .await
        .unwrap()
        .into_iter()
        // Every message crosses the wire.
        .map(|m| ReplicationMessage::decode(&m.encode().unwrap()).unwrap())
        .collect()
    }

    async fn create_thing(&self, name: &str) {
        let record = ThingRecord {
            thing_name: thing(name),
            thing_type: None,
            attributes: BTreeMap::new(),
            groups: None,
            association: Default::default(),
        };
        self.registry.put_thing(&record).await.unwrap();
    }
}

/// Deliver like SQS: a message that fails retryably goes to the back and comes again.
async fn deliver_all(messages: Vec<ReplicationMessage>, dr: &FakeRegistry, ledger: &FakeLedger) {
    let mut queue: VecDeque<_> = messages.into();
    let mut attempts = 0;
    while let Some(message) = queue.pop_front() {
        attempts += 1;
        assert!(attempts < 10_000, "deliveries never settled");
        match apply(&message, &rewrite(), dr, ledger).await {
            Ok(_) => {}
            Err(e) if e.retryable() => queue.push_back(message),
            Err(e) => panic!("{}: {e}", message.subject.key()),
        }
    }
}

/// What DR must hold of primary's groups: the same tree, properties, memberships and
/// group policies (documents rewritten).
fn assert_groups_match(primary: &World, dr: &World) {
    assert_eq!(
        dr.groups, primary.groups,
        "groups, hierarchy and properties"
    );
    assert_eq!(dr.memberships, primary.memberships, "memberships");
    assert_eq!(dr.group_policies, primary.group_policies, "group policies");
    for (_, policy) in &dr.group_policies {
        assert_eq!(
            dr.policies[policy],
            rewrite()
                .rewrite_document(&primary.policies[policy])
                .unwrap(),
            "group policy document rewritten for DR"
        );
    }
}

#[test]
fn a_device_s_group_its_parents_and_the_group_policy_reach_dr_whichever_message_comes_first() {
    block_on(async {
        // Given a hospital > ward-7 tree in primary, the ward's policy, and a wearable in it.
        let primary = Primary::new();
        let p = &primary.registry;
        p.ensure_thing_group(&group("hospital"), None)
            .await
            .unwrap();
        p.ensure_thing_group(&group("ward-7"), Some(&group("hospital")))
            .await
            .unwrap();
        p.put_thing_group(&records::ThingGroupRecord {
            group_name: group("ward-7"),
            ancestors: vec![group("hospital")],
            description: Some("Ward 7".to_owned()),
            attributes: BTreeMap::from([("floor".to_owned(), "3".to_owned())]),
            query: None,
            policies: Vec::new(),
        })
        .await
        .unwrap();
        p.attach_group_policy(&ward_policy(), &group("ward-7"))
            .await
            .unwrap();
        primary.create_thing("wearable-1").await;
        p.add_to_group(&thing("wearable-1"), &group("ward-7"))
            .await
            .unwrap();

        let mut messages = primary.capture(Trigger::Thing(thing("wearable-1"))).await;
        messages.extend(
            primary
                .capture(Trigger::ThingGroup(group("hospital")))
                .await,
        );
        messages.extend(primary.capture(Trigger::ThingGroup(group("ward-7"))).await);
        let Subject::Thing(record) = &messages[0].subject else {
            panic!("a thing message");
        };
        assert_eq!(
            record.groups.as_deref().unwrap()[0].ancestors,
            vec![group("hospital")],
            "a membership carries where its group sits"
        );

        // When DR gets them in either order, then DR holds the same tree and policy.
        for reversed in [false, true] {
            let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
            let mut order = messages.clone();
            if reversed {
                order.reverse();
            }
            deliver_all(order, &dr, &ledger).await;
            assert_groups_match(&p.snapshot(), &dr.snapshot());
        }
    });
}

#[test]
fn a_wearable_moved_to_a_sibling_ward_leaves_the_old_ward_in_dr_before_joining_the_new_one() {
    block_on(async {
        // Given hospital > ward-7, ward-8 in primary and DR, the wearable in ward-7 on both.
        let primary = Primary::new();
        let p = &primary.registry;
        p.ensure_thing_group(&group("hospital"), None)
            .await
            .unwrap();
        for ward in ["ward-7", "ward-8"] {
            p.ensure_thing_group(&group(ward), Some(&group("hospital")))
                .await
                .unwrap();
        }
        primary.create_thing("wearable-3").await;
        p.add_to_group(&thing("wearable-3"), &group("ward-7"))
            .await
            .unwrap();
        let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
        let mut before = primary.capture(Trigger::Thing(thing("wearable-3"))).await;
        for g in ["hospital", "ward-7", "ward-8"] {
            before.extend(primary.capture(Trigger::ThingGroup(group(g))).await);
        }
        deliver_all(before, &dr, &ledger).await;
        assert_groups_match(&p.snapshot(), &dr.snapshot());

        // When primary moves it to the sibling ward (AWS refuses it a second group of one
        // hierarchy, so out of ward-7 first there too) and DR applies the thing's message,
        p.remove_from_group(&thing("wearable-3"), &group("ward-7"))
            .await
            .unwrap();
        p.add_to_group(&thing("wearable-3"), &group("ward-8"))
            .await
            .unwrap();
        let moved = primary.capture(Trigger::Thing(thing("wearable-3"))).await;
        let outcome = apply(&moved[0], &rewrite(), &dr, &ledger).await.unwrap();

        // then DR did the same, in that order, in one delivery.
        assert!(
            matches!(&outcome, Outcome::Applied { changes }
            if changes.ends_with(&[
                Change::RemovedFromGroup("ward-7".to_owned()),
                Change::AddedToGroup("ward-8".to_owned()),
            ])),
            "{outcome:?}"
        );
        assert_groups_match(&p.snapshot(), &dr.snapshot());
    });
}

#[test]
fn a_group_deleted_in_dr_is_not_recreated_by_an_older_membership() {
    block_on(async {
        let primary = Primary::new();
        let p = &primary.registry;
        p.ensure_thing_group(&group("ward-9"), None).await.unwrap();
        primary.create_thing("wearable-2").await;
        p.add_to_group(&thing("wearable-2"), &group("ward-9"))
            .await
            .unwrap();
        let old_membership = primary.capture(Trigger::Thing(thing("wearable-2"))).await;
        p.delete_thing_group(&group("ward-9")).await.unwrap();
        let deletion = primary.capture(Trigger::ThingGroup(group("ward-9"))).await;
        assert_eq!(deletion[0].subject.kind(), "thing_group_deleted");

        let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
        deliver_all(deletion, &dr, &ledger).await;
        let outcome = apply(&old_membership[0], &rewrite(), &dr, &ledger)
            .await
            .unwrap();
        assert!(
            matches!(&outcome, Outcome::Applied { changes }
                if changes.contains(&Change::SkippedDeletedThingGroup("ward-9".to_owned()))),
            "{outcome:?}"
        );
        assert_groups_match(&p.snapshot(), &dr.snapshot());
    });
}

#[test]
fn a_group_dr_holds_under_another_parent_is_recreated_where_primary_has_it() {
    block_on(async {
        let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
        dr.ensure_thing_group(&group("old-site"), None)
            .await
            .unwrap();
        dr.ensure_thing_group(&group("ward-3"), Some(&group("old-site")))
            .await
            .unwrap();
        let primary = Primary::new();
        primary
            .registry
            .ensure_thing_group(&group("new-site"), None)
            .await
            .unwrap();
        primary
            .registry
            .ensure_thing_group(&group("ward-3"), Some(&group("new-site")))
            .await
            .unwrap();
        let messages = primary.capture(Trigger::ThingGroup(group("ward-3"))).await;
        let outcome = apply(&messages[0], &rewrite(), &dr, &ledger).await.unwrap();
        assert!(
            matches!(&outcome, Outcome::Applied { changes }
                if changes.contains(&Change::RecreatedThingGroup("ward-3".to_owned()))),
            "{outcome:?}"
        );
        assert_eq!(
            dr.snapshot().groups[&group("ward-3")].ancestors,
            vec![group("new-site")]
        );
    });
}

#[test]
fn a_dynamic_group_is_recreated_from_its_query_and_never_given_members_by_hand() {
    block_on(async {
        let record = records::ThingGroupRecord {
            group_name: group("ward-7-low-battery"),
            ancestors: Vec::new(),
            description: None,
            attributes: BTreeMap::new(),
            query: Some(records::DynamicGroupQuery {
                query_string: "attributes.ward:7 AND shadow.reported.battery<20".to_owned(),
                index_name: Some("AWS_Things".to_owned()),
                query_version: Some("2017-09-30".to_owned()),
            }),
            policies: vec![PolicyRecord {
                policy_name: ward_policy(),
                document: WARD_POLICY.to_owned(),
            }],
        };
        let primary = Primary::new();
        primary.registry.put_thing_group(&record).await.unwrap();
        primary
            .registry
            .attach_group_policy(&ward_policy(), &record.group_name)
            .await
            .unwrap();
        primary.create_thing("wearable-3").await;
        primary
            .registry
            .world
            .lock()
            .unwrap()
            .memberships
            .insert((thing("wearable-3"), record.group_name.clone()));
        let mut messages = primary
            .capture(Trigger::ThingGroup(record.group_name.clone()))
            .await;
        messages.extend(primary.capture(Trigger::Thing(thing("wearable-3"))).await);

        let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
        deliver_all(messages, &dr, &ledger).await;
        let dr = dr.snapshot();
        assert_eq!(dr.groups[&record.group_name].query, record.query);
        assert!(dr.memberships.is_empty(), "DR's index fills dynamic groups");
        assert!(dr
            .group_policies
            .contains(&(record.group_name.clone(), ward_policy())));
    });
}

/// One change to primary's groups.
#[derive(Debug, Clone)]
enum GroupOp {
    /// Create a new group under the `n`-th existing group (or at the root).
    Create { parent: Option<usize> },
    /// Delete the `n`-th group if it has no children.
    Delete(usize),
    /// Attach or detach the ward policy on the `n`-th group.
    TogglePolicy(usize),
    /// Add or remove thing `t` to/from the `n`-th group.
    ToggleMember { thing: usize, group: usize },
    /// Change the `n`-th group's attributes.
    SetFloor { group: usize, floor: u8 },
}

fn group_op() -> impl Strategy<Value = GroupOp> {
    prop_oneof![
        prop::option::of(0usize..8).prop_map(|parent| GroupOp::Create { parent }),
        (0usize..8).prop_map(GroupOp::Delete),
        (0usize..8).prop_map(GroupOp::TogglePolicy),
        (0usize..3, 0usize..8).prop_map(|(thing, group)| GroupOp::ToggleMember { thing, group }),
        (0usize..8, 0u8..5).prop_map(|(group, floor)| GroupOp::SetFloor { group, floor }),
    ]
}

/// Perform one op as AWS allows it; the triggers its CloudTrail event would carry.
async fn perform(primary: &Primary, op: &GroupOp, created: &mut usize) -> Vec<Trigger> {
    let p = &primary.registry;
    let existing: Vec<ThingGroupName> = p.snapshot().groups.keys().cloned().collect();
    let nth = |n: usize| existing.get(n % existing.len().max(1)).cloned();
    match op {
        GroupOp::Create { parent } => {
            let parent = parent.and_then(nth);
            let depth = match &parent {
                Some(parent) => p.snapshot().groups[parent].ancestors.len() + 1,
                None => 0,
            };
            if depth >= records::MAX_GROUP_DEPTH {
                return Vec::new();
            }
            // Names are never reused: see the README on recreated groups.
            *created += 1;
            let name = group(&format!("g-{created}"));
            p.ensure_thing_group(&name, parent.as_ref()).await.unwrap();
            vec![Trigger::ThingGroup(name)]
        }
        GroupOp::Delete(n) => match nth(*n) {
            Some(name) if p.delete_thing_group(&name).await.is_ok() => {
                vec![Trigger::ThingGroup(name)]
            }
            _ => Vec::new(),
        },
        GroupOp::TogglePolicy(n) => {
            let Some(name) = nth(*n) else {
                return Vec::new();
            };
            let attached = p.thing_group_policy_names(&name).await.unwrap();
            if attached.contains(&ward_policy()) {
                p.detach_group_policy(&ward_policy(), &name).await.unwrap();
            } else {
                p.attach_group_policy(&ward_policy(), &name).await.unwrap();
            }
            vec![Trigger::ThingGroup(name)]
        }
        GroupOp::ToggleMember { thing: t, group: n } => {
            let Some(name) = nth(*n) else {
                return Vec::new();
            };
            let member = thing(&format!("wearable-{t}"));
            let groups = p.thing_group_names(&member).await.unwrap();
            if groups.contains(&name) {
                p.remove_from_group(&member, &name).await.unwrap();
            } else {
                // A move within one hierarchy (a ward transfer), as AWS requires it: out of
                // the old group first.
                let world = p.snapshot();
                let root =
                    |g: &ThingGroupName| world.groups[g].ancestors.first().unwrap_or(g).clone();
                let mut left = groups.len();
                for old in groups.iter().filter(|old| root(old) == root(&name)) {
                    p.remove_from_group(&member, old).await.unwrap();
                    left -= 1;
                }
                if left < records::MAX_GROUPS_PER_THING {
                    p.add_to_group(&member, &name).await.unwrap();
                }
            }
            vec![Trigger::Thing(member)]
        }
        GroupOp::SetFloor { group: n, floor } => {
            let Some(name) = nth(*n) else {
                return Vec::new();
            };
            let mut record = p.thing_group(&name).await.unwrap().unwrap();
            record.attributes = BTreeMap::from([("floor".to_owned(), floor.to_string())]);
            p.put_thing_group(&record).await.unwrap();
            vec![Trigger::ThingGroup(name)]
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any history of group changes, every message delivered twice in any order (retryable
    /// failures, such as deleting a parent whose child's deletion has not arrived, retried),
    /// leaves DR's groups, tree, memberships and group policies equal to primary's.
    #[test]
    fn shuffled_and_duplicated_group_histories_converge(
        ops in prop::collection::vec(group_op(), 1..30),
        seed in any::<u64>(),
    ) {
        block_on(async {
            let primary = Primary::new();
            let mut messages = Vec::new();
            for t in 0..3 {
                let name = format!("wearable-{t}");
                primary.create_thing(&name).await;
                messages.extend(primary.capture(Trigger::Thing(thing(&name))).await);
            }
            let mut created = 0;
            for op in &ops {
                for trigger in perform(&primary, op, &mut created).await {
                    messages.extend(primary.capture(trigger).await);
                }
            }
            let mut deliveries: Vec<_> = messages.iter().chain(&messages).cloned().collect();
            super::tests::shuffle(&mut deliveries, seed);

            let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
            deliver_all(deliveries, &dr, &ledger).await;
            let (primary, dr) = (primary.registry.snapshot(), dr.snapshot());
            assert_groups_match(&primary, &dr);
            let members: BTreeSet<_> = dr.memberships.iter().map(|(t, _)| t.clone()).collect();
            assert!(members.iter().all(|t| dr.things.contains_key(t)));
        });
    }
}

#[test]
fn a_role_alias_reaches_dr_naming_dr_s_role_and_goes_when_primary_deletes_it() {
    block_on(async {
        let primary = Primary::new();
        let alias = records::RoleAliasRecord {
            role_alias: "wearable-uploads".parse().unwrap(),
            role_arn: "arn:aws:iam::111111111111:role/wearable-uploads".to_owned(),
            credential_duration_seconds: 3600,
        };
        primary.registry.put_role_alias(&alias).await.unwrap();
        let created = primary
            .capture(Trigger::RoleAlias(alias.role_alias.clone()))
            .await;
        let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
        deliver_all(created.clone(), &dr, &ledger).await;
        assert_eq!(
            dr.snapshot().role_aliases[&alias.role_alias].role_arn,
            "arn:aws:iam::222222222222:role/wearable-uploads"
        );

        primary
            .registry
            .delete_role_alias(&alias.role_alias)
            .await
            .unwrap();
        let deleted = primary
            .capture(Trigger::RoleAlias(alias.role_alias.clone()))
            .await;
        assert_eq!(deleted[0].subject.kind(), "role_alias_deleted");
        // The deletion, then the creation again out of order: deleted stays deleted.
        deliver_all(deleted, &dr, &ledger).await;
        deliver_all(created, &dr, &ledger).await;
        assert!(dr.snapshot().role_aliases.is_empty());
    });
}

#[test]
fn a_provisioning_template_reaches_dr_mapped_with_the_policies_it_names_and_goes_when_deleted() {
    block_on(async {
        let primary = Primary::new();
        let template = super::template::tests::wearable_template();
        let named = template.policies[0].clone();
        primary.registry.put_policy(&named).await.unwrap();
        primary
            .registry
            .put_provisioning_template(&template)
            .await
            .unwrap();
        let trigger = || Trigger::ProvisioningTemplate(template.template_name.clone());
        let created = primary.capture(trigger()).await;
        let super::Subject::ProvisioningTemplate(carried) = &created[0].subject else {
            panic!("{created:?}");
        };
        assert_eq!(
            carried.policies,
            vec![named.clone()],
            "the named policy travels"
        );
        assert_eq!(
            ReplicationMessage::decode(&created[0].encode().unwrap()).unwrap(),
            created[0]
        );

        let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
        deliver_all(created.clone(), &dr, &ledger).await;
        let world = dr.snapshot();
        let in_dr = &world.templates[&template.template_name];
        assert_eq!(
            in_dr,
            &template.in_dr(&rewrite()).unwrap().with_no_policies()
        );
        assert_eq!(
            in_dr.provisioning_role_arn,
            "arn:aws:iam::222222222222:role/iot-provisioning"
        );
        assert!(!in_dr.template_body.contains("111111111111"));
        assert!(world.policies[&named.policy_name].contains("222222222222"));

        primary
            .registry
            .delete_provisioning_template(&template.template_name)
            .await
            .unwrap();
        let deleted = primary.capture(trigger()).await;
        assert_eq!(deleted[0].subject.kind(), "provisioning_template_deleted");
        // The deletion, then the creation again out of order: deleted stays deleted.
        deliver_all(deleted, &dr, &ledger).await;
        deliver_all(created, &dr, &ledger).await;
        assert!(dr.snapshot().templates.is_empty());
    });
}

/// A shadow documents event for `wearable-9`'s classic shadow, as the topic rule hands it.
fn shadow_event(
    previous: Option<serde_json::Value>,
    desired: serde_json::Value,
    version: u64,
    at: i64,
) -> serde_json::Value {
    let meta: serde_json::Map<String, serde_json::Value> = desired
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (k.clone(), serde_json::json!({"timestamp": at})))
        .collect();
    serde_json::json!({
        "previous": previous,
        "current": {"state": {"desired": desired}, "metadata": {"desired": meta}, "version": version},
        "timestamp": at,
        "topic": "$aws/things/wearable-9/shadow/update/documents",
    })
}

#[test]
fn shadow_updates_reach_dr_in_any_order_and_never_undo_a_newer_write_made_in_dr() {
    block_on(async {
        let first = shadow_event(None, serde_json::json!({"hr_high": 120}), 1, 100);
        let second = shadow_event(
            Some(first["current"].clone()),
            serde_json::json!({"hr_high": 110}),
            2,
            101,
        );
        let messages: Vec<ReplicationMessage> = [&first, &second]
            .into_iter()
            .map(|event| {
                let parsed = parse_event(event).unwrap();
                ReplicationMessage {
                    schema_version: message::SCHEMA_VERSION,
                    source: source_ref(),
                    cause: parsed.cause.clone(),
                    event_time_ms: parsed.event_time_ms,
                    observed_at_ms: 1,
                    subject: parsed.subjects[0].clone(),
                }
            })
            .map(|m| ReplicationMessage::decode(&m.encode().unwrap()).unwrap())
            .collect();
        let thing = thing("wearable-9");
        let desired = |dr: &FakeRegistry| {
            dr.snapshot().shadows[&(thing.clone(), None)]
                .state
                .desired
                .clone()
                .unwrap()["hr_high"]
                .clone()
        };
        // In order, replicated at DR times after both of primary's writes (the lag).
        for order in [[0, 1], [1, 0]] {
            let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
            dr.world.lock().unwrap().shadow_clock = 200;
            for i in order {
                apply(&messages[i], &rewrite(), &dr, &ledger).await.unwrap();
            }
            assert_eq!(desired(&dr), 110, "order {order:?}");
        }

        // After a failover, a clinician sets 100 in DR at 300; primary's second update,
        // stuck in the queue, arrives late: DR keeps 100.
        let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
        dr.world.lock().unwrap().shadow_clock = 200;
        apply(&messages[0], &rewrite(), &dr, &ledger).await.unwrap();
        dr.world.lock().unwrap().shadow_clock = 300;
        dr.update_shadow(
            &thing,
            None,
            &serde_json::json!({"state": {"desired": {"hr_high": 100}}}),
        )
        .await
        .unwrap();
        let outcome = apply(&messages[1], &rewrite(), &dr, &ledger).await.unwrap();
        assert!(
            matches!(&outcome, Outcome::Applied { changes }
                if matches!(changes[..], [Change::ShadowUnchanged(_)])),
            "{outcome:?}"
        );
        assert_eq!(desired(&dr), 100);
    });
}

/// DR's shadow service with someone (a clinician in DR) writing between the replicator's read
/// and its write, once; every update the replicator sends is kept.
struct WrittenMeanwhile<'a> {
    dr: &'a FakeRegistry,
    meanwhile: std::sync::Mutex<Option<serde_json::Value>>,
    sent: std::sync::Mutex<Vec<serde_json::Value>>,
}

impl ShadowStore for WrittenMeanwhile<'_> {
    async fn shadow(
        &self,
        thing: &ThingName,
        name: Option<&str>,
    ) -> Result<Option<shadow::ShadowDocument>, crate::port::PortError> {
        self.dr.shadow(thing, name).await
    }

    async fn update_shadow(
        &self,
        thing: &ThingName,
        name: Option<&str>,
        update: &serde_json::Value,
    ) -> Result<(), crate::port::PortError> {
        let meanwhile = self.meanwhile.lock().unwrap().take();
        if let Some(write) = meanwhile {
            self.dr.world.lock().unwrap().shadow_clock = 300;
            self.dr.update_shadow(thing, name, &write).await?;
        }
        self.sent.lock().unwrap().push(update.clone());
        self.dr.update_shadow(thing, name, update).await
    }

    async fn shadow_names(&self, thing: &ThingName) -> Result<Vec<String>, crate::port::PortError> {
        self.dr.shadow_names(thing).await
    }

    async fn delete_shadow(
        &self,
        thing: &ThingName,
        name: Option<&str>,
    ) -> Result<(), crate::port::PortError> {
        self.dr.delete_shadow(thing, name).await
    }
}

#[test]
fn a_clinician_s_write_in_dr_between_the_replicator_s_read_and_write_is_not_overwritten() {
    block_on(async {
        // DR's shadow: hr_high 120, as replicated (DR time 100).
        let dr = FakeRegistry::default();
        let wearable = thing("wearable-7");
        dr.world.lock().unwrap().shadow_clock = 100;
        dr.update_shadow(
            &wearable,
            None,
            &serde_json::json!({"state": {"desired": {"hr_high": 120}}}),
        )
        .await
        .unwrap();
        let read = dr.shadow(&wearable, None).await.unwrap().unwrap();

        // Primary moved it 120 -> 110 at its time 200; a clinician sets 130 in DR (time 300)
        // after the replicator read DR and before it writes.
        let document = |value: i64, at: i64| -> shadow::ShadowDocument {
            serde_json::from_value(serde_json::json!({
                "state": {"desired": {"hr_high": value}},
                "metadata": {"desired": {"hr_high": {"timestamp": at}}},
                "version": 1, "timestamp": at,
            }))
            .unwrap()
        };
        let store = WrittenMeanwhile {
            dr: &dr,
            meanwhile: std::sync::Mutex::new(Some(
                serde_json::json!({"state": {"desired": {"hr_high": 130}}}),
            )),
            sent: std::sync::Mutex::new(Vec::new()),
        };
        apply::bring_shadow(
            &store,
            &wearable,
            None,
            shadow::Base::Known(&document(120, 100).state),
            &document(110, 200),
            Some(&read),
        )
        .await
        .unwrap();

        // The write named the version it merged against, lost the race, read again, and the
        // clinician's later value stands.
        let sent = store.sent.lock().unwrap().clone();
        assert_eq!(sent[0]["version"], read.version, "{sent:?}");
        assert!(
            sent.iter()
                .all(|u| u["clientToken"] == apply::REPLICATED_CLIENT_TOKEN),
            "{sent:?}"
        );
        let now = dr.shadow(&wearable, None).await.unwrap().unwrap();
        assert_eq!(
            now.state.desired.unwrap()["hr_high"],
            130,
            "the clinician's write in DR stands"
        );
    });
}
