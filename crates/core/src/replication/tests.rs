//! Flow A end to end on in-memory registries: capture from a fake primary, apply to a fake
//! DR, in order, out of order and duplicated.

use crate::port::PortError;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;

use proptest::prelude::*;

use super::fake::{rewrite, source_ref as source, FakeLedger, FakeRegistry, World};
use super::*;
use crate::certificate::{CertificateId, CertificatePem, CertificateStatus};
use crate::ids::{PolicyName, ThingName};
use crate::replication::ports::{ApplyLedger, CertificateRegistry, LedgerEntry, Recorded};
use crate::replication::records::{PolicyRecord, ThingAssociation, ThingRecord};
use crate::replication::service::{
    apply_batch, park_poison, BatchReport, DeadLetterSink, Delivery,
};

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:111111111111:client/${iot:Connection.Thing.ThingName}"}]}"#;

fn pems() -> &'static [String] {
    static PEMS: OnceLock<Vec<String>> = OnceLock::new();
    PEMS.get_or_init(|| {
        (0..50)
            .map(|i| {
                rcgen::generate_simple_self_signed(vec![format!("device-{i}.example.com")])
                    .unwrap()
                    .cert
                    .pem()
            })
            .collect()
    })
}

fn policy_name() -> PolicyName {
    "wearable".parse().unwrap()
}

/// One change an operator or device makes in primary.
#[derive(Debug, Clone, Copy)]
enum Op {
    SetStatus(CertificateStatus),
    AttachPolicy,
    DetachPolicy,
    /// Attach the certificate's thing, or attach it again the other way.
    AttachThing(ThingAssociation),
    DetachThing,
    Delete,
}

/// Primary, plus a clock that ticks once per capture, and the messages captured so far.
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
            .insert(policy_name(), POLICY.to_owned());
        Self {
            registry,
            clock: AtomicI64::new(1_000),
        }
    }

    async fn capture(&self, id: &CertificateId, cause: &str) -> ReplicationMessage {
        let event = CaptureEvent {
            cause: cause.to_owned(),
            event_time_ms: self.clock.load(Ordering::SeqCst),
            triggers: vec![Trigger::Certificate(id.clone())],
            subjects: Vec::new(),
            detached: Vec::new(),
        };
        let mut messages = capture(&event, &self.registry, &source(), || {
            self.clock.fetch_add(1, Ordering::SeqCst)
        })
        .await
        .unwrap();
        assert_eq!(messages.len(), 1);
        // Every message crosses the wire: encode and decode it as SNS/SQS would.
        ReplicationMessage::decode(&messages.remove(0).encode().unwrap()).unwrap()
    }

    async fn register(&self, pem: &str, status: CertificateStatus) -> CertificateId {
        let pem = CertificatePem::parse(pem).unwrap();
        self.registry
            .register_certificate(&pem, None, status)
            .await
            .unwrap();
        pem.id().clone()
    }

    /// Apply an op as AWS would allow it; returns false if AWS would refuse it.
    async fn perform(&self, id: &CertificateId, thing: &ThingName, op: Op) -> bool {
        let r = &self.registry;
        let exists = r.certificate(id).await.unwrap();
        let Some(view) = exists else { return false };
        match op {
            Op::SetStatus(status) => r.set_status(id, status).await.is_ok(),
            Op::AttachPolicy => r.attach_policy(&policy_name(), id).await.is_ok(),
            Op::DetachPolicy => r.detach_policy(&policy_name(), id).await.is_ok(),
            Op::AttachThing(association) => {
                let record = ThingRecord {
                    thing_name: thing.clone(),
                    thing_type: None,
                    attributes: BTreeMap::from([("model".to_owned(), "w2".to_owned())]),
                    groups: None,
                    association: Default::default(),
                };
                r.ensure_thing(&record).await.unwrap();
                r.attach_thing(thing, id, association).await.is_ok()
            }
            Op::DetachThing => r.detach_thing(thing, id).await.is_ok(),
            Op::Delete => {
                // Operators detach and deactivate before deleting, as AWS requires.
                if view.status == CertificateStatus::Active {
                    return false;
                }
                r.detach_thing(thing, id).await.unwrap();
                r.detach_policy(&policy_name(), id).await.unwrap();
                r.delete_certificate(id).await.is_ok()
            }
        }
    }
}

/// What DR must hold, derived from primary: same certificates with DR's status mapping,
/// same links, policies with ARNs rewritten, things that certificates are attached to.
fn expected_dr(primary: &World) -> (BTreeMap<CertificateId, CertificateStatus>, World) {
    let statuses = primary
        .certificates
        .iter()
        .map(|(id, (_, status))| (id.clone(), status.in_dr()))
        .collect();
    (statuses, primary.clone())
}

fn assert_dr_matches(primary: &World, dr: &World) {
    let (statuses, expected) = expected_dr(primary);
    let dr_statuses: BTreeMap<_, _> = dr
        .certificates
        .iter()
        .map(|(id, (_, status))| (id.clone(), *status))
        .collect();
    assert_eq!(dr_statuses, statuses, "certificate statuses");
    for (id, (pem, _)) in &expected.certificates {
        assert_eq!(&dr.certificates[id].0, pem, "same PEM");
    }
    assert_eq!(dr.policy_links, expected.policy_links, "policy links");
    assert_eq!(dr.thing_links, expected.thing_links, "thing links");
    for (_, name) in &dr.policy_links {
        assert_eq!(
            dr.policies[name],
            rewrite()
                .rewrite_document(&expected.policies[name])
                .unwrap(),
            "policy document rewritten for DR"
        );
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn a_new_certificate_arrives_with_its_policy_and_thing() {
    block_on(async {
        let primary = Primary::new();
        let thing: ThingName = "wearable-1".parse().unwrap();
        let id = primary
            .register(&pems()[0], CertificateStatus::Active)
            .await;
        primary.perform(&id, &thing, Op::AttachPolicy).await;
        primary
            .perform(&id, &thing, Op::AttachThing(ThingAssociation::NonExclusive))
            .await;
        let message = primary.capture(&id, "AttachThingPrincipal").await;

        let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
        let outcome = apply(&message, &rewrite(), &dr, &ledger).await.unwrap();

        assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
        assert_dr_matches(&primary.registry.snapshot(), &dr.snapshot());
        // register, ca check skipped, ensure policy, attach, ensure thing, attach.
        assert_eq!(*dr.calls.lock().unwrap(), 5);
        // The same message again changes nothing and calls nothing.
        let calls = *dr.calls.lock().unwrap();
        assert_eq!(
            apply(&message, &rewrite(), &dr, &ledger).await.unwrap(),
            Outcome::Stale
        );
        assert_eq!(*dr.calls.lock().unwrap(), calls);
    });
}

#[test]
fn a_fleet_provisioned_device_is_captured_from_its_thing_created_event_alone() {
    block_on(async {
        // RegisterThing over MQTT: certificate, thing, link and policy, with no CloudTrail
        // record of any of it — only the registry's thing-created event.
        let primary = Primary::new();
        let thing: ThingName = "wearable-fp-1".parse().unwrap();
        let id = primary
            .register(&pems()[1], CertificateStatus::Active)
            .await;
        primary.perform(&id, &thing, Op::AttachPolicy).await;
        primary
            .perform(&id, &thing, Op::AttachThing(ThingAssociation::NonExclusive))
            .await;
        let event = CaptureEvent {
            cause: "thing-created".to_owned(),
            event_time_ms: 1_000,
            triggers: vec![Trigger::Thing(thing.clone())],
            subjects: Vec::new(),
            detached: Vec::new(),
        };
        let messages = capture(&event, &primary.registry, &source(), || 2_000)
            .await
            .unwrap();
        let kinds: Vec<_> = messages.iter().map(|m| m.subject.kind()).collect();
        assert_eq!(kinds, vec!["certificate", "thing"]);

        let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
        for message in &messages {
            apply(message, &rewrite(), &dr, &ledger).await.unwrap();
        }
        assert_dr_matches(&primary.registry.snapshot(), &dr.snapshot());

        // An update of the same thing reads only the thing.
        let updated = CaptureEvent {
            cause: "thing-updated".to_owned(),
            ..event
        };
        let messages = capture(&updated, &primary.registry, &source(), || 3_000)
            .await
            .unwrap();
        assert_eq!(messages.len(), 1);
    });
}

#[test]
fn a_revoked_certificate_never_comes_back() {
    block_on(async {
        let primary = Primary::new();
        let thing: ThingName = "wearable-2".parse().unwrap();
        let id = primary
            .register(&pems()[1], CertificateStatus::Active)
            .await;
        let active = primary.capture(&id, "RegisterCertificate").await;
        primary
            .perform(&id, &thing, Op::SetStatus(CertificateStatus::Revoked))
            .await;
        let revoked = primary.capture(&id, "UpdateCertificate").await;

        let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
        apply(&active, &rewrite(), &dr, &ledger).await.unwrap();
        apply(&revoked, &rewrite(), &dr, &ledger).await.unwrap();
        assert_eq!(
            dr.snapshot().certificates[&id].1,
            CertificateStatus::Revoked
        );

        // The older ACTIVE message, redelivered late: stale, still revoked.
        assert_eq!(
            apply(&active, &rewrite(), &dr, &ledger).await.unwrap(),
            Outcome::Stale
        );
        assert_eq!(
            dr.snapshot().certificates[&id].1,
            CertificateStatus::Revoked
        );

        // A newer message claiming ACTIVE (a confused primary, a restored backup): kept revoked.
        let mut confused = active.clone();
        confused.observed_at_ms = revoked.observed_at_ms + 10;
        let outcome = apply(&confused, &rewrite(), &dr, &ledger).await.unwrap();
        let Outcome::Applied { changes } = outcome else {
            panic!("applied")
        };
        assert!(changes.contains(&Change::KeptRevoked), "{changes:?}");
        assert_eq!(
            dr.snapshot().certificates[&id].1,
            CertificateStatus::Revoked
        );

        // Deleted, then registered again from a stale message: comes back REVOKED.
        let mut deleted = revoked.clone();
        deleted.subject = Subject::CertificateDeleted {
            certificate_id: id.clone(),
        };
        deleted.observed_at_ms = confused.observed_at_ms + 10;
        apply(&deleted, &rewrite(), &dr, &ledger).await.unwrap();
        assert!(!dr.snapshot().certificates.contains_key(&id));
        let mut reborn = active.clone();
        if let Subject::Certificate(record) = &mut reborn.subject {
            record.last_modified_ms = deleted.observed_at_ms + 10;
        }
        apply(&reborn, &rewrite(), &dr, &ledger).await.unwrap();
        assert_eq!(
            dr.snapshot().certificates[&id].1,
            CertificateStatus::Revoked
        );
    });
}

#[test]
fn pending_activation_is_inactive_in_dr_until_activated() {
    block_on(async {
        let primary = Primary::new();
        let thing: ThingName = "wearable-3".parse().unwrap();
        let id = primary
            .register(&pems()[2], CertificateStatus::PendingActivation)
            .await;
        let jitr = primary.capture(&id, "jitr").await;
        let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
        apply(&jitr, &rewrite(), &dr, &ledger).await.unwrap();
        assert_eq!(
            dr.snapshot().certificates[&id].1,
            CertificateStatus::Inactive
        );

        primary
            .perform(&id, &thing, Op::SetStatus(CertificateStatus::Active))
            .await;
        let activated = primary.capture(&id, "UpdateCertificate").await;
        apply(&activated, &rewrite(), &dr, &ledger).await.unwrap();
        assert_eq!(dr.snapshot().certificates[&id].1, CertificateStatus::Active);
    });
}

#[test]
fn a_thing_message_owns_attributes_and_a_deleted_thing_goes() {
    block_on(async {
        let primary = Primary::new();
        let name: ThingName = "wearable-4".parse().unwrap();
        let id = primary
            .register(&pems()[3], CertificateStatus::Active)
            .await;
        primary
            .perform(&id, &name, Op::AttachThing(ThingAssociation::NonExclusive))
            .await;
        let with_thing = primary.capture(&id, "AttachThingPrincipal").await;
        let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
        apply(&with_thing, &rewrite(), &dr, &ledger).await.unwrap();

        let updated = ThingRecord {
            thing_name: name.clone(),
            thing_type: None,
            attributes: BTreeMap::from([("model".to_owned(), "w3".to_owned())]),
            groups: None,
            association: Default::default(),
        };
        let mut thing_message = with_thing.clone();
        thing_message.subject = Subject::Thing(updated.clone());
        thing_message.observed_at_ms += 1;
        apply(&thing_message, &rewrite(), &dr, &ledger)
            .await
            .unwrap();
        // A later certificate message with the old attributes does not undo the update.
        let mut later = with_thing.clone();
        later.observed_at_ms += 2;
        apply(&later, &rewrite(), &dr, &ledger).await.unwrap();
        assert_eq!(dr.snapshot().things[&name], updated);

        let mut gone = with_thing.clone();
        gone.subject = Subject::ThingDeleted {
            thing_name: name.clone(),
        };
        gone.observed_at_ms += 3;
        apply(&gone, &rewrite(), &dr, &ledger).await.unwrap();
        assert!(!dr.snapshot().things.contains_key(&name));
        assert!(dr.snapshot().thing_links.is_empty());

        // A certificate message read before the deletion, delivered after it (another FIFO
        // group), must not bring the thing back.
        let mut late = with_thing.clone();
        late.observed_at_ms = gone.observed_at_ms - 1;
        if let Subject::Certificate(record) = &mut late.subject {
            record.last_modified_ms = gone.observed_at_ms + 100;
        }
        let Outcome::Applied { changes } = apply(&late, &rewrite(), &dr, &ledger).await.unwrap()
        else {
            panic!("applied")
        };
        assert!(
            changes.contains(&Change::SkippedDeletedThing(name.to_string())),
            "{changes:?}"
        );
        assert!(!dr.snapshot().things.contains_key(&name));
    });
}

#[test]
fn a_policy_message_updates_the_document_for_dr() {
    block_on(async {
        let primary = Primary::new();
        let id = primary
            .register(&pems()[4], CertificateStatus::Active)
            .await;
        let thing: ThingName = "wearable-5".parse().unwrap();
        primary.perform(&id, &thing, Op::AttachPolicy).await;
        let attached = primary.capture(&id, "AttachPolicy").await;
        let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
        apply(&attached, &rewrite(), &dr, &ledger).await.unwrap();

        let new_document = POLICY.replace("iot:Connect", "iot:*");
        let mut version = attached.clone();
        version.subject = Subject::Policy(PolicyRecord {
            policy_name: policy_name(),
            document: new_document.clone(),
        });
        apply(&version, &rewrite(), &dr, &ledger).await.unwrap();
        assert_eq!(
            dr.snapshot().policies[&policy_name()],
            rewrite().rewrite_document(&new_document).unwrap()
        );
        assert!(dr.snapshot().policies[&policy_name()].contains("us-west-2:222222222222"));
    });
}

/// FakeLedger that yields inside every read and counts how many reads are in flight at
/// once: concurrency made observable on a single-threaded runtime, without timers.
#[derive(Default)]
struct CountingLedger {
    inner: FakeLedger,
    in_flight: std::sync::atomic::AtomicUsize,
    max_in_flight: std::sync::atomic::AtomicUsize,
}

impl ApplyLedger for CountingLedger {
    async fn entry(&self, key: &str) -> Result<Option<LedgerEntry>, PortError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.inner.entry(key).await
    }

    async fn record(&self, key: &str, entry: LedgerEntry) -> Result<Recorded, PortError> {
        self.inner.record(key, entry).await
    }
}

/// Five certificates, each registered then revoked in primary: two messages per FIFO
/// group, interleaved as SQS would hand them over. Returns (message id, group, body).
async fn two_messages_per_certificate() -> (Primary, Vec<(String, String, String)>) {
    let primary = Primary::new();
    let thing: ThingName = "wearable-1".parse().unwrap();
    let mut firsts = Vec::new();
    let mut seconds = Vec::new();
    for pem in &pems()[..5] {
        let id = primary.register(pem, CertificateStatus::Active).await;
        firsts.push(primary.capture(&id, "RegisterCertificate").await);
        primary
            .perform(&id, &thing, Op::SetStatus(CertificateStatus::Revoked))
            .await;
        seconds.push(primary.capture(&id, "RevokeCertificate").await);
    }
    let deliveries = firsts
        .into_iter()
        .chain(seconds)
        .enumerate()
        .map(|(i, m)| (format!("m{i}"), m.subject.key(), m.encode().unwrap()))
        .collect();
    (primary, deliveries)
}

fn as_deliveries(owned: &[(String, String, String)]) -> Vec<Delivery<'_>> {
    owned
        .iter()
        .map(|(id, group, body)| Delivery {
            message_id: id,
            group: Some(group),
            body,
        })
        .collect()
}

#[test]
fn a_batch_applies_its_groups_concurrently_and_each_group_in_order() {
    block_on(async {
        let (primary, owned) = two_messages_per_certificate().await;
        let (dr, ledger) = (FakeRegistry::default(), CountingLedger::default());

        let report = apply_batch(&as_deliveries(&owned), &rewrite(), &dr, &ledger, || 0).await;

        // In order within each group: had a revocation gone first, its registration would
        // have been skipped as stale.
        assert_eq!((report.applied, report.stale), (10, 0), "{report:?}");
        assert!(report.failed.is_empty());
        assert_dr_matches(&primary.registry.snapshot(), &dr.snapshot());
        assert_eq!(
            ledger.max_in_flight.load(Ordering::SeqCst),
            5,
            "all five groups at once"
        );
    });
}

#[test]
fn one_group_in_a_batch_is_applied_one_message_at_a_time() {
    block_on(async {
        let (_, mut owned) = two_messages_per_certificate().await;
        for (_, group, _) in &mut owned {
            "one-group".clone_into(group);
        }
        let (dr, ledger) = (FakeRegistry::default(), CountingLedger::default());

        let report = apply_batch(&as_deliveries(&owned), &rewrite(), &dr, &ledger, || 0).await;

        assert_eq!(report.applied, 10, "{report:?}");
        assert_eq!(ledger.max_in_flight.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn a_failed_message_holds_back_only_the_rest_of_its_own_group() {
    block_on(async {
        let (_, mut owned) = two_messages_per_certificate().await;
        // The first message of the first group is poison; its group's second message (m5)
        // must wait for it, the other groups go on.
        "{not json".clone_into(&mut owned[0].2);
        let (dr, ledger) = (FakeRegistry::default(), CountingLedger::default());

        let report = apply_batch(&as_deliveries(&owned), &rewrite(), &dr, &ledger, || 0).await;

        assert_eq!(report.failed, ["m0", "m5"], "failures in delivery order");
        assert_eq!(
            (report.rejected, report.held_back, report.applied),
            (1, 1, 8),
            "{report:?}"
        );
    });
}

/// A DLQ that records what it was given, or refuses everything.
#[derive(Default)]
struct RecordingSink {
    refuse: bool,
    parked: std::sync::Mutex<Vec<Parked>>,
}

/// What [`RecordingSink`] was given: message id, group, reason and body.
type Parked = (String, Option<String>, String, String);

impl DeadLetterSink for RecordingSink {
    async fn park(&self, delivery: &Delivery<'_>, reason: &str) -> Result<(), PortError> {
        if self.refuse {
            return Err(PortError::transient("SendMessage", "connection reset"));
        }
        self.parked.lock().unwrap().push((
            delivery.message_id.to_owned(),
            delivery.group.map(str::to_owned),
            reason.to_owned(),
            delivery.body.to_owned(),
        ));
        Ok(())
    }
}

/// The five-certificate batch with its first message's body made poison by `spoil`, applied
/// and parked in `sink`. Returns the batch (id, group, body) and the report after parking.
async fn apply_and_park_with_poison_first(
    sink: &RecordingSink,
    spoil: impl FnOnce(&str) -> String,
) -> (Vec<(String, String, String)>, BatchReport) {
    let (_, mut owned) = two_messages_per_certificate().await;
    owned[0].2 = spoil(&owned[0].2);
    let deliveries = as_deliveries(&owned);
    let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
    let mut report = apply_batch(&deliveries, &rewrite(), &dr, &ledger, || 0).await;
    assert_eq!(report.poison.len(), 1, "{report:?}");
    park_poison(&mut report, &deliveries, sink).await;
    (owned, report)
}

#[test]
fn poison_goes_to_the_dlq_at_once_with_its_reason_and_what_waited_behind_it_is_retried() {
    block_on(async {
        let sink = RecordingSink::default();
        let (owned, report) = apply_and_park_with_poison_first(&sink, not_json).await;

        assert_eq!(
            report.failed,
            ["m5"],
            "only the held-back message is retried"
        );
        assert_eq!(report.parked, 1);
        let parked = sink.parked.lock().unwrap();
        let (id, group, reason, body) = &parked[0];
        assert_eq!(
            (id.as_str(), group.as_deref()),
            ("m0", Some(owned[0].1.as_str()))
        );
        assert!(reason.starts_with("refused: "), "{reason}");
        assert_eq!(
            body, &owned[0].2,
            "kept as it came, for a replay once fixed"
        );
    });
}

fn not_json(_: &str) -> String {
    "{not json".to_owned()
}

#[test]
fn a_message_carrying_a_private_key_is_parked_without_its_body() {
    block_on(async {
        let sink = RecordingSink::default();
        let key = "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----";
        let (owned, report) =
            apply_and_park_with_poison_first(&sink, |body| format!("{body}{key}")).await;

        assert_eq!(report.parked, 1, "{report:?}");
        let parked = sink.parked.lock().unwrap();
        let (id, _, reason, body) = &parked[0];
        assert_eq!(id, "m0");
        assert!(reason.contains("PRIVATE KEY"), "{reason}");
        assert!(
            !body.contains("PRIVATE KEY") && !body.contains("MIIEvQ"),
            "{body}"
        );
        let stub: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            stub["body_sha256"],
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                owned[0].2.as_bytes()
            )),
            "the digest ties the dead letter to the message that carried the key"
        );
        assert_eq!(stub["body_bytes"], owned[0].2.len());
    });
}

#[test]
fn poison_that_cannot_be_parked_stays_failed_for_the_redrive() {
    block_on(async {
        let sink = RecordingSink {
            refuse: true,
            ..RecordingSink::default()
        };
        let (_, report) = apply_and_park_with_poison_first(&sink, not_json).await;

        assert_eq!(report.failed, ["m0", "m5"]);
        assert_eq!(report.parked, 0);
    });
}

/// A ledger DR's IAM does not let us read.
struct DeniedLedger;

impl ApplyLedger for DeniedLedger {
    async fn entry(&self, _: &str) -> Result<Option<LedgerEntry>, PortError> {
        Err(PortError::permanent(
            "GetItem",
            "AccessDeniedException: not authorized",
        ))
    }

    async fn record(&self, _: &str, _: LedgerEntry) -> Result<Recorded, PortError> {
        Err(PortError::permanent(
            "UpdateItem",
            "AccessDeniedException: not authorized",
        ))
    }
}

#[test]
fn a_call_dr_refuses_is_not_parked_an_iam_fix_may_still_let_it_through() {
    block_on(async {
        let (_, owned) = two_messages_per_certificate().await;
        let deliveries = as_deliveries(&owned);
        let mut report = apply_batch(
            &deliveries,
            &rewrite(),
            &FakeRegistry::default(),
            &DeniedLedger,
            || 0,
        )
        .await;
        let sink = RecordingSink::default();
        park_poison(&mut report, &deliveries, &sink).await;

        assert!(report.poison.is_empty(), "{report:?}");
        assert_eq!(
            (report.rejected, report.held_back, report.retried),
            (5, 5, 0),
            "refused (not transient), each group's second message held back"
        );
        assert_eq!(report.failed.len(), 10, "all retried by SQS, then redriven");
        assert!(sink.parked.lock().unwrap().is_empty());
    });
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::SetStatus(CertificateStatus::Active)),
        Just(Op::SetStatus(CertificateStatus::Inactive)),
        Just(Op::SetStatus(CertificateStatus::Revoked)),
        Just(Op::AttachPolicy),
        Just(Op::DetachPolicy),
        Just(Op::AttachThing(ThingAssociation::NonExclusive)),
        Just(Op::AttachThing(ThingAssociation::Exclusive)),
        Just(Op::DetachThing),
        Just(Op::Delete),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any history of 50 certificates, every message delivered three times in any order,
    /// leaves DR equal to primary.
    #[test]
    fn duplicated_and_shuffled_histories_converge(
        histories in prop::collection::vec(prop::collection::vec(op_strategy(), 1..6), 50),
        seed in any::<u64>(),
    ) {
        block_on(async {
            let primary = Primary::new();
            let mut messages = Vec::new();
            for (i, ops) in histories.iter().enumerate() {
                let thing: ThingName = format!("wearable-{i}").parse().unwrap();
                let status = if i % 3 == 0 { CertificateStatus::PendingActivation } else { CertificateStatus::Active };
                let id = primary.register(&pems()[i], status).await;
                messages.push(primary.capture(&id, "RegisterCertificate").await);
                for op in ops {
                    if primary.perform(&id, &thing, *op).await {
                        messages.push(primary.capture(&id, "op").await);
                    }
                }
            }
            let mut deliveries: Vec<_> = messages.iter().chain(&messages).chain(&messages).collect();
            shuffle(&mut deliveries, seed);

            let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
            for message in deliveries {
                apply(message, &rewrite(), &dr, &ledger).await.unwrap();
            }
            assert_dr_matches(&primary.registry.snapshot(), &dr.snapshot());
        });
    }
}

/// A deterministic Fisher–Yates shuffle (xorshift), so a failing seed replays exactly.
pub(super) fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
}

/// A CA deactivated in primary (compromised) stops vouching in DR; one DR lacks is applied
/// all the same (its operators register it there), and a CA primary deleted is retired in DR.
#[test]
fn a_ca_deactivated_in_primary_is_inactive_in_dr() {
    use crate::replication::records::{CaCertificateRecord, CaCertificateStatus};
    block_on(async {
        let ca: CertificateId = CertificatePem::parse(&pems()[0]).unwrap().id().clone();
        let (primary, dr, ledger) = (
            FakeRegistry::default(),
            FakeRegistry::default(),
            FakeLedger::default(),
        );
        for registry in [&primary, &dr] {
            registry
                .world
                .lock()
                .unwrap()
                .cas
                .insert(ca.clone(), pems()[0].clone());
        }
        primary
            .set_ca_certificate(&CaCertificateRecord {
                ca_certificate_id: ca.clone(),
                status: CaCertificateStatus::Inactive,
                auto_registration: false,
            })
            .await
            .unwrap();
        let capture_now = |at: i64| {
            let event = CaptureEvent {
                cause: "UpdateCACertificate".to_owned(),
                event_time_ms: at,
                triggers: vec![Trigger::CaCertificate(ca.clone())],
                subjects: Vec::new(),
                detached: Vec::new(),
            };
            let primary = &primary;
            async move {
                let mut messages = capture(&event, primary, &source(), || at).await.unwrap();
                ReplicationMessage::decode(&messages.remove(0).encode().unwrap()).unwrap()
            }
        };
        let deactivated = capture_now(1_000).await;
        assert_eq!(deactivated.subject.key(), format!("ca#{ca}"));
        apply(&deactivated, &rewrite(), &dr, &ledger).await.unwrap();
        let in_dr = dr.ca_certificate(&ca).await.unwrap().unwrap();
        assert_eq!(in_dr.status, CaCertificateStatus::Inactive);

        // DR without the CA: applied, and said.
        let bare = FakeRegistry::default();
        let outcome = apply(&deactivated, &rewrite(), &bare, &FakeLedger::default())
            .await
            .unwrap();
        assert_eq!(
            outcome,
            Outcome::Applied {
                changes: vec![Change::CaMissingInDr(ca.clone())]
            }
        );

        // Re-activated with auto-registration in primary, then deleted there.
        primary
            .set_ca_certificate(&CaCertificateRecord {
                ca_certificate_id: ca.clone(),
                status: CaCertificateStatus::Active,
                auto_registration: true,
            })
            .await
            .unwrap();
        apply(&capture_now(2_000).await, &rewrite(), &dr, &ledger)
            .await
            .unwrap();
        assert!(
            dr.ca_certificate(&ca)
                .await
                .unwrap()
                .unwrap()
                .auto_registration
        );
        primary.world.lock().unwrap().cas.clear();
        let deleted = capture_now(3_000).await;
        assert_eq!(deleted.subject.kind(), "ca_certificate_deleted");
        apply(&deleted, &rewrite(), &dr, &ledger).await.unwrap();
        let retired = dr.ca_certificate(&ca).await.unwrap().unwrap();
        assert_eq!(
            (retired.status, retired.auto_registration),
            (CaCertificateStatus::Inactive, false)
        );
    });
}

/// A thing's type travels beside it with its properties (DR would otherwise create it bare),
/// an update of the type alone reaches DR, and a type primary deleted is deprecated in DR.
#[test]
fn a_thing_type_reaches_dr_with_its_properties_and_a_deleted_one_is_deprecated() {
    use crate::replication::records::{PropagatingAttribute, ThingTypeRecord};
    use crate::replication::ThingTypeRegistry;
    block_on(async {
        let (primary, dr, ledger) = (
            FakeRegistry::default(),
            FakeRegistry::default(),
            FakeLedger::default(),
        );
        let wearable_type = ThingTypeRecord {
            thing_type_name: "wearable-v2".to_owned(),
            description: Some("wrist-worn monitor".to_owned()),
            searchable_attributes: vec!["ward".to_owned()],
            propagating_attributes: vec![PropagatingAttribute {
                user_property_key: "ward".to_owned(),
                thing_attribute: Some("ward".to_owned()),
                connection_attribute: None,
            }],
            deprecated: false,
        };
        primary.put_thing_type(&wearable_type).await.unwrap();
        let thing: ThingName = "wearable-77".parse().unwrap();
        primary
            .put_thing(&ThingRecord {
                thing_name: thing.clone(),
                thing_type: Some("wearable-v2".to_owned()),
                attributes: BTreeMap::from([("ward".to_owned(), "7".to_owned())]),
                groups: None,
                association: Default::default(),
            })
            .await
            .unwrap();
        let capture_of = |trigger: Trigger, at: i64| {
            let event = CaptureEvent {
                cause: "test".to_owned(),
                event_time_ms: at,
                triggers: vec![trigger],
                subjects: Vec::new(),
                detached: Vec::new(),
            };
            let primary = &primary;
            async move { capture(&event, primary, &source(), || at).await.unwrap() }
        };
        let messages = capture_of(Trigger::Thing(thing.clone()), 1_000).await;
        let kinds: Vec<_> = messages.iter().map(|m| m.subject.kind()).collect();
        assert_eq!(kinds, ["thing_type", "thing"]);
        for message in &messages {
            let message = ReplicationMessage::decode(&message.encode().unwrap()).unwrap();
            apply(&message, &rewrite(), &dr, &ledger).await.unwrap();
        }
        assert_eq!(
            dr.thing_type("wearable-v2").await.unwrap(),
            Some(wearable_type.clone())
        );

        primary.world.lock().unwrap().thing_types.clear();
        for message in capture_of(Trigger::ThingType("wearable-v2".to_owned()), 2_000).await {
            assert_eq!(message.subject.kind(), "thing_type_deleted");
            apply(&message, &rewrite(), &dr, &ledger).await.unwrap();
        }
        let deprecated = dr.thing_type("wearable-v2").await.unwrap().unwrap();
        assert!(deprecated.deprecated, "{deprecated:?}");
    });
}

#[test]
fn an_exclusive_association_is_captured_and_dr_links_are_retyped_to_it() {
    block_on(async {
        let primary = Primary::new();
        let thing: ThingName = "wearable-x1".parse().unwrap();
        let spare: ThingName = "wearable-x1-spare".parse().unwrap();
        let id = primary
            .register(&pems()[5], CertificateStatus::Active)
            .await;
        primary
            .perform(&id, &thing, Op::AttachThing(ThingAssociation::NonExclusive))
            .await;
        let (dr, ledger) = (FakeRegistry::default(), FakeLedger::default());
        apply(
            &primary.capture(&id, "AttachThingPrincipal").await,
            &rewrite(),
            &dr,
            &ledger,
        )
        .await
        .unwrap();
        // DR also holds a second thing on the certificate (an operator's, during an outage):
        // AWS refuses an exclusive attach until it is gone.
        primary
            .perform(&id, &spare, Op::AttachThing(ThingAssociation::NonExclusive))
            .await;
        apply(
            &primary.capture(&id, "AttachThingPrincipal").await,
            &rewrite(),
            &dr,
            &ledger,
        )
        .await
        .unwrap();
        primary.perform(&id, &spare, Op::DetachThing).await;
        primary
            .perform(&id, &thing, Op::AttachThing(ThingAssociation::Exclusive))
            .await;

        let message = primary.capture(&id, "AttachThingPrincipal").await;
        let Subject::Certificate(record) = &message.subject else {
            panic!("a certificate message")
        };
        assert_eq!(record.things[0].association, ThingAssociation::Exclusive);
        let Outcome::Applied { changes } = apply(&message, &rewrite(), &dr, &ledger).await.unwrap()
        else {
            panic!("applied")
        };

        assert_eq!(
            changes,
            vec![
                Change::DetachedThing(spare.to_string()),
                Change::RetypedThing(format!("{thing} -> EXCLUSIVE_THING")),
            ],
            "the other thing goes before the exclusive attach"
        );
        assert_dr_matches(&primary.registry.snapshot(), &dr.snapshot());

        // And back: non-exclusive again, with a second thing attached after it.
        primary
            .perform(&id, &thing, Op::AttachThing(ThingAssociation::NonExclusive))
            .await;
        primary
            .perform(&id, &spare, Op::AttachThing(ThingAssociation::NonExclusive))
            .await;
        let message = primary.capture(&id, "AttachThingPrincipal").await;
        let Outcome::Applied { changes } = apply(&message, &rewrite(), &dr, &ledger).await.unwrap()
        else {
            panic!("applied")
        };
        assert_eq!(
            changes,
            vec![
                Change::RetypedThing(format!("{thing} -> NON_EXCLUSIVE_THING")),
                Change::AttachedThing(spare.to_string()),
            ],
            "released before the second thing is attached"
        );
        assert_dr_matches(&primary.registry.snapshot(), &dr.snapshot());
    });
}

#[test]
fn the_fake_refuses_what_aws_refuses_of_an_exclusive_thing() {
    block_on(async {
        let registry = FakeRegistry::default();
        let id = CertificatePem::parse(&pems()[6]).unwrap().id().clone();
        let [one, two]: [ThingName; 2] = [
            "wearable-e1".parse().unwrap(),
            "wearable-e2".parse().unwrap(),
        ];
        for name in [&one, &two] {
            registry
                .ensure_thing(&ThingRecord {
                    thing_name: name.clone(),
                    thing_type: None,
                    attributes: BTreeMap::new(),
                    groups: None,
                    association: Default::default(),
                })
                .await
                .unwrap();
        }
        registry
            .attach_thing(&one, &id, ThingAssociation::NonExclusive)
            .await
            .unwrap();

        let exclusive_beside_another = registry
            .attach_thing(&two, &id, ThingAssociation::Exclusive)
            .await;
        registry.detach_thing(&one, &id).await.unwrap();
        registry
            .attach_thing(&two, &id, ThingAssociation::Exclusive)
            .await
            .unwrap();
        let beside_an_exclusive = registry
            .attach_thing(&one, &id, ThingAssociation::NonExclusive)
            .await;

        assert!(exclusive_beside_another.is_err());
        assert!(beside_an_exclusive.is_err());
        assert_eq!(
            registry.certificate_thing_associations(&id).await.unwrap(),
            BTreeMap::from([(two, ThingAssociation::Exclusive)])
        );
    });
}
