//! One reconciler invocation against in-memory registries, checkpoint and failover state.

use std::time::{Duration, Instant};

use super::*;
use crate::certificate::{CertificatePem, CertificateStatus};
use crate::failover::{AuditEntry, FailoverRecord, Mode, State, Stored};
use crate::port::PortError;
use crate::reconcile::MemoryCheckpoint;
use crate::replication::fake::{rewrite, source_ref, FakeLedger, FakeRegistry};
use crate::replication::CertificateRegistry;
use crate::report::{emf, json};
use crate::time::ManualClock;

/// A failover state store that answers one thing.
struct FixedState(Result<Option<Stored>, PortError>);

impl StateStore for FixedState {
    async fn load(&self) -> Result<Option<Stored>, PortError> {
        self.0.clone()
    }

    async fn save(&self, _: &FailoverRecord, _: u64) -> Result<bool, PortError> {
        unreachable!("the rule only reads")
    }

    async fn audit(&self, _: &AuditEntry) -> Result<(), PortError> {
        unreachable!("the rule only reads")
    }
}

fn in_mode(mode: Mode) -> FixedState {
    let mut state = State::initial(0);
    state.mode = mode;
    FixedState(Ok(Some(Stored {
        record: FailoverRecord {
            state,
            runbook: None,
        },
        version: 1,
    })))
}

async fn decide(state: &FixedState, when_not: WhenNotAllowed) -> Result<Repairs, RepairsRefused> {
    decide_repairs(state, true, when_not).await
}

#[tokio::test]
async fn repairs_are_allowed_only_while_primary_is_the_source_of_truth() {
    use WhenNotAllowed::{Refuse, ReportOnly};
    // Given no state yet, or primary serving: repairs apply.
    assert_eq!(
        decide(&FixedState(Ok(None)), Refuse).await,
        Ok(Repairs::Apply)
    );
    assert_eq!(
        decide(&in_mode(Mode::Degraded), Refuse).await,
        Ok(Repairs::Apply)
    );
    // Given DR serving: the Lambda reports only, an operator is refused, both say why.
    for mode in [Mode::FailedOver, Mode::FailingBack] {
        let Ok(Repairs::ReportOnly(why)) = decide(&in_mode(mode), ReportOnly).await else {
            panic!("{mode}: repairs not paused");
        };
        assert!(why.contains(&mode.to_string()), "{why}");
        let refused = decide(&in_mode(mode), Refuse).await.unwrap_err();
        assert!(refused.0.contains("dr-to-primary"), "{refused}");
    }
    // Given an unreadable state: no repairs either.
    let unreadable = FixedState(Err(PortError::transient("GetItem", "no answer")));
    assert!(matches!(
        decide(&unreadable, ReportOnly).await,
        Ok(Repairs::ReportOnly(why)) if why.contains("cannot be read")
    ));
    assert!(decide(&unreadable, Refuse).await.is_err());
    // Given a dry run: nothing is read, nothing repaired.
    assert_eq!(
        decide_repairs(&unreadable, false, Refuse).await,
        Ok(Repairs::DryRun)
    );
}

async fn fleet(n: usize) -> (FakeRegistry, FakeRegistry) {
    let (primary, dr) = (FakeRegistry::default(), FakeRegistry::default());
    for _ in 0..n {
        let pem = CertificatePem::parse(&crate::certificate::tests::generated_pem()).unwrap();
        primary
            .register_certificate(&pem, None, CertificateStatus::Active)
            .await
            .unwrap();
    }
    (primary, dr)
}

fn reconciler<'a>(
    primary: &'a FakeRegistry,
    dr: &'a FakeRegistry,
    ledger: &'a FakeLedger,
) -> Reconciler<'a, FakeRegistry, FakeRegistry, FakeLedger> {
    Reconciler {
        source: primary,
        target: dr,
        ledger,
        source_ref: source_ref(),
        rewrite: rewrite(),
        apply_repairs: false,
        page_size: 2,
    }
}

const HOUR: i64 = 3_600_000;

fn scheduled(deadline_in: Duration) -> (StatusTier, DeepTier) {
    (
        StatusTier::WhenDue { every_ms: HOUR },
        DeepTier::WithinDeadline {
            deadline: Instant::now() + deadline_in,
            max_pages: Some(1),
        },
    )
}

#[tokio::test]
async fn a_scheduled_invocation_runs_the_status_tier_when_due_then_one_deep_page() {
    // Given primary with 3 certificates, DR empty, no checkpoint.
    let (primary, dr) = fleet(3).await;
    let (ledger, checkpoint) = (FakeLedger::default(), MemoryCheckpoint::default());
    let (status, deep) = scheduled(Duration::from_secs(300));

    // When the reconciler is invoked.
    let first = run_invocation(
        reconciler(&primary, &dr, &ledger),
        Repairs::Apply,
        &checkpoint,
        status,
        deep,
        &Unwatched,
        &ManualClock::at(10 * HOUR),
    )
    .await;

    // Then the status pass (due: none recorded) repairs all three from the listings, the
    // deep tier reads one page and finds nothing left, and the status tier is fresh.
    assert_eq!(first.stopped, None);
    let pass = first.status_pass.as_ref().expect("due");
    assert_eq!((pass.counts.missing, pass.repaired), (3, 3));
    let deep = first.deep.as_ref().expect("ran");
    assert_eq!((deep.checked, deep.counts.missing), (2, 0));
    assert_eq!(first.oldest_unverified_ms, (Some(0), None));

    // When invoked again within the hour: no status pass, the deep tier goes on.
    let second = run_invocation(
        reconciler(&primary, &dr, &ledger),
        Repairs::Apply,
        &checkpoint,
        status,
        deep_tier(Duration::from_secs(300)),
        &Unwatched,
        &ManualClock::at(10 * HOUR + 60_000),
    )
    .await;
    assert!(second.status_pass.is_none(), "not due again");
    assert_eq!(second.oldest_unverified_ms.0, Some(60_000));
    assert!(second.deep.is_some());
}

fn deep_tier(deadline_in: Duration) -> DeepTier {
    scheduled(deadline_in).1
}

#[tokio::test]
async fn an_invocation_near_its_deadline_reads_no_deep_page_and_says_so_in_its_report() {
    let (primary, dr) = fleet(3).await;
    let (ledger, checkpoint) = (FakeLedger::default(), MemoryCheckpoint::default());
    let report = run_invocation(
        reconciler(&primary, &dr, &ledger),
        Repairs::DryRun,
        &checkpoint,
        StatusTier::Skip,
        deep_tier(Duration::from_secs(5)),
        &Unwatched,
        &ManualClock::at(1),
    )
    .await;
    let deep = report.deep.as_ref().expect("the tier ran");
    assert_eq!(deep.checked, 0, "no page fits in 5 s (10 s margin)");
    assert!(dr.snapshot().certificates.is_empty(), "report only");
    let document = json::render(&report);
    assert_eq!(document["repairs_paused"], 1);
    assert_eq!(document["mode"], "dry-run");
}

#[tokio::test]
async fn an_unreachable_primary_is_a_report_not_a_failure_and_keeps_the_cursor() {
    let (primary, dr) = fleet(1).await;
    primary
        .unreachable
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let (ledger, checkpoint) = (FakeLedger::default(), MemoryCheckpoint::default());
    let (status, deep) = scheduled(Duration::from_secs(300));
    let report = run_invocation(
        reconciler(&primary, &dr, &ledger),
        Repairs::Apply,
        &checkpoint,
        status,
        deep,
        &Unwatched,
        &ManualClock::at(1),
    )
    .await;
    assert!(matches!(
        report.stopped,
        Some(Stopped::SourceUnreachable(_))
    ));
    assert_eq!(report.failed(), None, "not a failure of the reconciler");
    assert_eq!(checkpoint.load().await.unwrap(), None, "the cursor stays");
    let lines: Vec<serde_json::Value> = emf::lines("reconciler", &report, 1)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["PrimaryUnreachable"], 1.0);
}

#[tokio::test]
async fn the_status_tier_and_freshness_are_published_under_their_tier_dimension() {
    let (primary, dr) = fleet(2).await;
    let (ledger, checkpoint) = (FakeLedger::default(), MemoryCheckpoint::default());
    let (status, deep) = scheduled(Duration::from_secs(300));
    let report = run_invocation(
        reconciler(&primary, &dr, &ledger),
        Repairs::ReportOnly("paused".into()),
        &checkpoint,
        status,
        deep,
        &Unwatched,
        &ManualClock::at(5),
    )
    .await;
    let lines: Vec<serde_json::Value> = emf::lines("reconciler", &report, 1)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let status_line = lines
        .iter()
        .find(|l| l["Tier"] == "status" && l.get("Missing").is_some())
        .expect("a status-tier line");
    assert_eq!(status_line["Missing"], 2.0);
    assert_eq!(status_line["Function"], "reconciler");
    assert!(
        lines
            .iter()
            .any(|l| l["Tier"] == "status" && l.get("OldestUnverifiedSeconds").is_some()),
        "{lines:?}"
    );
    assert_eq!(lines[0]["RepairsPaused"], 1.0);
    let document = json::render(&report);
    assert_eq!(document["status_pass"]["missing"], 2);
    assert_eq!(document["status_pass"]["details"][0]["kind"], "missing");
}

#[tokio::test]
async fn until_settled_runs_status_passes_until_nothing_is_left_to_repair() {
    let (primary, dr) = fleet(3).await;
    let ledger = FakeLedger::default();
    let report = run_invocation(
        reconciler(&primary, &dr, &ledger),
        Repairs::Apply,
        &MemoryCheckpoint::default(),
        StatusTier::UntilSettled,
        DeepTier::ToTheEnd,
        &Unwatched,
        &ManualClock::at(1),
    )
    .await;
    assert_eq!(report.status_pass.unwrap().repaired, 3);
    let deep = report.deep.unwrap();
    assert!(deep.completed.is_some(), "to the end");
    assert_eq!(
        deep.counts.missing, 0,
        "the status tier repaired them first"
    );
}
