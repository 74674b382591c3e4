//! The failover controller: persisted state, fenced decisions, and the runbooks that move
//! traffic.
//!
//! Every change goes load → change → save-if-version-unchanged. The version is the fencing
//! token: of two health checkers (an overlapping schedule, an operator's `drctl` at the same
//! moment) only the one whose conditional save lands may act; the other stops with
//! [`FailoverError::Fenced`] before touching anything.
//!
//! A runbook is a list of idempotent steps kept *in* the state, each marked done with a
//! fenced save as it finishes, so a runbook cut short (timeout, crash) is continued by the
//! next invocation from the step it stopped at — level-triggered, like the other flows.
//!
//! Failover puts traffic first: flip → notify operators → start the database restore →
//! audit record → database ready. Every step calls the DR region's data plane only (the
//! flip is a PutMetricData in DR, the restore lists and restores DR's own copies), so a
//! primary region that hangs or refuses cannot stop it, and nothing waits for RDS before
//! devices are steered away: IoT in DR accepts them without the database. A missing
//! snapshot never blocks anything; it is reported. Failback: flip back → notify → audit,
//! then primary is Healthy and fenced against flapping by the dwell time.
//!
//! The record stays small whatever happens: a runbook keeps its first and last notes and
//! counts the ones between (a step failing every round for hours must not grow the state
//! item towards DynamoDB's 400 KB limit), and probe reasons are cut to a line.

use crate::port::PortError;
use std::future::Future;

use serde::{Deserialize, Serialize};

use super::machine::{self, Decision, Hold, Mode, Refused, Settings, State};
use super::probe::Round;
use crate::time::EpochMillis;
use crate::Side;

/// What the state store keeps: the machine's state and the runbook in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverRecord {
    /// The machine.
    pub state: State,
    /// A runbook not finished yet.
    pub runbook: Option<Runbook>,
}

impl FailoverRecord {
    /// Whether primary is the certificates' source of truth: it serves traffic and no
    /// runbook is moving it. Otherwise DR is, and repairing DR from primary's older state
    /// would undo what changed in DR (the reconciler only reports then).
    pub fn primary_is_source_of_truth(&self) -> bool {
        self.state.serving() == Side::Primary && self.runbook.is_none()
    }
}

/// A stored record and its version (the fencing token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The record.
    pub record: FailoverRecord,
    /// Bumped by every save.
    pub version: u64,
}

/// Which way traffic moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunbookKind {
    /// Primary → DR.
    Failover,
    /// DR → primary.
    Failback,
}

/// One step of a runbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Point traffic at the runbook's side.
    Flip,
    /// Start restoring the newest DR copy of every protected database.
    StartRestore,
    /// Tell operators.
    Notify,
    /// Write the audit record.
    Audit,
    /// Wait until the restored databases are available (may span invocations).
    DatabaseReady,
}

impl RunbookKind {
    /// The steps, in order.
    pub fn steps(self) -> &'static [Step] {
        match self {
            RunbookKind::Failover => &[
                Step::Flip,
                Step::Notify,
                Step::StartRestore,
                Step::Audit,
                Step::DatabaseReady,
            ],
            RunbookKind::Failback => &[Step::Flip, Step::Notify, Step::Audit],
        }
    }

    /// The side traffic goes to.
    pub fn to(self) -> Side {
        match self {
            RunbookKind::Failover => Side::Dr,
            RunbookKind::Failback => Side::Primary,
        }
    }
}

/// A runbook in progress, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runbook {
    /// `failover-<ms>` or `failback-<ms>`: names the audit record.
    pub id: String,
    /// Which way.
    pub kind: RunbookKind,
    /// Who decided: `health-checker` or the operator's name.
    pub by: String,
    /// Why.
    pub reason: String,
    /// The probe round that decided it (automatic failover only).
    pub evidence: Option<Round>,
    /// When it started.
    pub started_ms: EpochMillis,
    /// Steps finished.
    pub done: Vec<Step>,
    /// What the steps found (snapshot restored, database endpoint, errors that did not stop
    /// it): the first [`NOTES_KEPT`]` / 2` and the last ones, see [`Runbook::note`].
    pub notes: Vec<String>,
    /// Notes dropped from the middle.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub notes_omitted: u64,
}

/// Notes a runbook keeps: the first half of these and the latest half.
pub const NOTES_KEPT: usize = 20;
/// The longest note or probe reason kept, in characters.
pub const NOTE_CHARS: usize = 300;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `text` cut to [`NOTE_CHARS`].
fn bounded(text: &str) -> String {
    if text.chars().count() <= NOTE_CHARS {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(NOTE_CHARS).collect::<String>())
    }
}

impl Runbook {
    fn new(
        kind: RunbookKind,
        by: &str,
        reason: String,
        evidence: Option<Round>,
        now: EpochMillis,
    ) -> Self {
        let prefix = match kind {
            RunbookKind::Failover => "failover",
            RunbookKind::Failback => "failback",
        };
        let evidence = evidence.map(|mut round| {
            for outcome in &mut round.outcomes {
                outcome.reason = bounded(&outcome.reason);
            }
            round
        });
        Self {
            id: format!("{prefix}-{now}"),
            kind,
            by: by.to_owned(),
            reason: bounded(&reason),
            evidence,
            started_ms: now,
            done: Vec::new(),
            notes: Vec::new(),
            notes_omitted: 0,
        }
    }

    /// Keep a note: the first `NOTES_KEPT / 2` stay, then the latest ones roll, the ones
    /// in between are counted in `notes_omitted`.
    pub fn note(&mut self, text: impl AsRef<str>) {
        if self.notes.len() >= NOTES_KEPT {
            self.notes.remove(NOTES_KEPT / 2);
            self.notes_omitted += 1;
        }
        self.notes.push(bounded(text.as_ref()));
    }

    /// The notes as one line, with the omitted count where it belongs.
    pub fn notes_line(&self) -> String {
        if self.notes.is_empty() {
            return "none".to_owned();
        }
        let mut notes: Vec<String> = self.notes.clone();
        if self.notes_omitted > 0 {
            notes.insert(NOTES_KEPT / 2, format!("… {} more …", self.notes_omitted));
        }
        notes.join("; ")
    }

    fn next_step(&self) -> Option<Step> {
        self.kind
            .steps()
            .iter()
            .copied()
            .find(|s| !self.done.contains(s))
    }
}

/// The audit record of a runbook: what, when, why, by whom, the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The runbook.
    pub runbook: Runbook,
    /// When the record was written.
    pub written_ms: EpochMillis,
    /// The fencing token the runbook ran under.
    pub token: u64,
}

/// Where the failover record lives (DynamoDB in DR, conditional writes).
pub trait StateStore {
    /// The record, if any.
    fn load(&self) -> impl Future<Output = Result<Option<Stored>, PortError>> + Send;
    /// Save as version `expected + 1` if the stored version is still `expected` (0: none).
    /// `Ok(false)`: someone else saved first.
    fn save(
        &self,
        record: &FailoverRecord,
        expected: u64,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;
    /// Write an audit entry (idempotent: keyed by the runbook's id).
    fn audit(&self, entry: &AuditEntry) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// What moves traffic: Route 53 failover records driven by a metric, or a direct UPSERT.
pub trait TrafficSwitch {
    /// Create or verify what the switch needs (records, health check, alarm).
    fn ensure(&self) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Send traffic to `side`, and return once the change is in effect.
    fn point_to(&self, side: Side) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Each round, outside runbooks: keep the switch showing `side` (the data-plane switch
    /// republishes its metric so the alarm never starves; the DNS one does nothing).
    fn heartbeat(&self, side: Side) -> impl Future<Output = Result<(), PortError>> + Send;
    /// Which side the switch sends traffic to now, if it can tell.
    fn serving(&self) -> impl Future<Output = Result<Option<Side>, PortError>> + Send;
}

/// Operators' channel (SNS).
pub trait Notifier {
    /// Publish one notification.
    fn notify(
        &self,
        subject: &str,
        message: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// The databases failover restores in DR.
pub trait DatabaseRecovery {
    /// Start restoring every protected database (idempotent); one note per database.
    fn start(&self) -> impl Future<Output = Vec<String>> + Send;
    /// Whether all restored databases are available: `Ok(Some(note))` when they are,
    /// `Ok(None)` while RDS works. Starts any restore not started yet.
    fn ready(&self) -> impl Future<Output = Result<Option<String>, PortError>> + Send;
}

/// Why a controller call did not complete.
#[derive(Debug, thiserror::Error)]
pub enum FailoverError {
    /// Another decider saved first; it acts, this one must not.
    #[error("another health checker or operator changed the failover state first (version {0} is stale); nothing done")]
    Fenced(u64),
    /// The operator's command is not allowed now.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The state store failed.
    #[error("failover state store: {0}")]
    Store(#[source] PortError),
    /// A runbook step failed; the runbook stays pending and the next invocation retries it.
    #[error("runbook {runbook} step {step:?} failed (it will be retried): {error}")]
    Step {
        /// The runbook.
        runbook: String,
        /// The step.
        step: Step,
        /// Why.
        #[source]
        error: PortError,
    },
}

/// What one call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The record after the call.
    pub record: FailoverRecord,
    /// What the round decided (rounds only).
    pub decision: Decision,
    /// Runbook steps finished in this call.
    pub steps: Vec<Step>,
    /// A runbook finished in this call.
    pub finished: Option<Runbook>,
}

/// The failover controller over its ports.
#[derive(Debug)]
pub struct Controller<'a, St, Sw, N, D> {
    /// The state store.
    pub store: &'a St,
    /// The traffic switch.
    pub switch: &'a Sw,
    /// Operators' channel.
    pub notifier: &'a N,
    /// Database restore in DR.
    pub database: &'a D,
    /// Thresholds.
    pub settings: Settings,
    /// DR's region, for messages.
    pub dr_region: String,
}

impl<St, Sw, N, D> Controller<'_, St, Sw, N, D>
where
    St: StateStore + Sync,
    Sw: TrafficSwitch + Sync,
    N: Notifier + Sync,
    D: DatabaseRecovery + Sync,
{
    async fn load(&self, now: EpochMillis) -> Result<Stored, FailoverError> {
        Ok(self
            .store
            .load()
            .await
            .map_err(FailoverError::Store)?
            .unwrap_or(Stored {
                record: FailoverRecord {
                    state: State::initial(now),
                    runbook: None,
                },
                version: 0,
            }))
    }

    async fn save(&self, record: &FailoverRecord, version: &mut u64) -> Result<(), FailoverError> {
        if !self
            .store
            .save(record, *version)
            .await
            .map_err(FailoverError::Store)?
        {
            return Err(FailoverError::Fenced(*version));
        }
        *version += 1;
        Ok(())
    }

    /// The record as stored (or the initial one), for `drctl status`.
    pub async fn current(&self, now: EpochMillis) -> Result<Stored, FailoverError> {
        self.load(now).await
    }

    /// Fold one probe round in; fail over if it decides so; continue any pending runbook.
    pub async fn round(&self, round: Round) -> Result<Outcome, FailoverError> {
        let now = round.at_ms;
        let Stored {
            mut record,
            mut version,
        } = self.load(now).await?;
        let decision = machine::observe(&mut record.state, &round, &self.settings);
        if decision == Decision::Held && !record.state.held_alerted {
            // Primary is down past the threshold and nothing will move: operators must know
            // now, once per outage, not when they next look (best effort, like every notice).
            record.state.held_alerted = true;
            let (subject, message) = self.held_message(&record.state, &round);
            if let Err(error) = self.notifier.notify(&subject, &message).await {
                tracing::error!(%error, "operators could not be told that failover is held");
            }
        }
        if let Decision::FailOver(reason) = &decision {
            record.runbook = Some(Runbook::new(
                RunbookKind::Failover,
                "health-checker",
                reason.clone(),
                Some(round.clone()),
                now,
            ));
        }
        self.save(&record, &mut version).await?;
        if record.runbook.is_none() {
            // Level-triggered: the switch keeps showing the state's side every round.
            if let Err(error) = self.switch.heartbeat(record.state.serving()).await {
                tracing::warn!(%error, "traffic switch heartbeat failed; retried next round");
            }
        }
        self.finish(record, version, decision, now).await
    }

    /// The operator fails over now (`drctl failover`), held or not.
    pub async fn force_failover(
        &self,
        by: &str,
        reason: &str,
        now: EpochMillis,
    ) -> Result<Outcome, FailoverError> {
        let Stored {
            mut record,
            mut version,
        } = self.load(now).await?;
        machine::force_failover(&mut record.state, now)?;
        let reason = format!("forced by {by}: {reason}");
        record.runbook = Some(Runbook::new(
            RunbookKind::Failover,
            by,
            reason.clone(),
            None,
            now,
        ));
        self.save(&record, &mut version).await?;
        self.finish(record, version, Decision::FailOver(reason), now)
            .await
    }

    /// The operator fails back (`drctl failback`), if primary has been healthy long
    /// enough and a reverse reconcile has run since the failover.
    pub async fn failback(&self, by: &str, now: EpochMillis) -> Result<Outcome, FailoverError> {
        let Stored {
            mut record,
            mut version,
        } = self.load(now).await?;
        let resuming = record.state.mode == Mode::FailingBack;
        // A failover runbook still running (a long restore, a failing step) is finished
        // first: replacing it would lose its audit record, maybe its flip.
        if let Some(pending) = record
            .runbook
            .as_ref()
            .filter(|r| r.kind != RunbookKind::Failback)
        {
            return Err(Refused::RunbookPending(pending.id.clone()).into());
        }
        machine::begin_failback(&mut record.state, &self.settings, now)?;
        if !resuming {
            let reason = format!(
                "primary up since {} and reverse reconcile done",
                record.state.primary_up_since_ms.unwrap_or(now)
            );
            record.runbook = Some(Runbook::new(RunbookKind::Failback, by, reason, None, now));
            self.save(&record, &mut version).await?;
        }
        self.finish(record, version, Decision::Stay, now).await
    }

    /// Continue a pending runbook without observing a round (`drctl failover --resume`).
    pub async fn resume(&self, now: EpochMillis) -> Result<Outcome, FailoverError> {
        let Stored { record, version } = self.load(now).await?;
        self.finish(record, version, Decision::Stay, now).await
    }

    /// Hold automatic failover (`drctl hold`), until released or, with `until_ms`, until
    /// then.
    pub async fn hold(
        &self,
        by: &str,
        reason: &str,
        until_ms: Option<EpochMillis>,
        now: EpochMillis,
    ) -> Result<FailoverRecord, FailoverError> {
        self.update(now, |state| {
            state.hold = Some(Hold {
                by: by.to_owned(),
                reason: bounded(reason),
                at_ms: now,
                until_ms,
            });
            state.held_alerted = false;
        })
        .await
    }

    /// Release the hold (`drctl release`).
    pub async fn release(&self, now: EpochMillis) -> Result<FailoverRecord, FailoverError> {
        self.update(now, |state| state.hold = None).await
    }

    /// Record a completed DR → primary reconcile (failback's precondition).
    pub async fn reverse_reconciled(
        &self,
        now: EpochMillis,
    ) -> Result<FailoverRecord, FailoverError> {
        self.update(now, |state| state.reverse_reconciled_ms = Some(now))
            .await
    }

    async fn update(
        &self,
        now: EpochMillis,
        change: impl FnOnce(&mut State),
    ) -> Result<FailoverRecord, FailoverError> {
        let Stored {
            mut record,
            mut version,
        } = self.load(now).await?;
        change(&mut record.state);
        self.save(&record, &mut version).await?;
        Ok(record)
    }

    /// Run the pending runbook's remaining steps, saving after each.
    async fn finish(
        &self,
        mut record: FailoverRecord,
        mut version: u64,
        decision: Decision,
        now: EpochMillis,
    ) -> Result<Outcome, FailoverError> {
        let mut steps = Vec::new();
        let mut finished = None;
        while let Some(mut runbook) = record.runbook.take() {
            let Some(step) = runbook.next_step() else {
                if runbook.kind == RunbookKind::Failback {
                    machine::complete_failback(&mut record.state, now);
                }
                finished = Some(runbook);
                self.save(&record, &mut version).await?;
                break;
            };
            let result = self.run_step(step, &mut runbook, version, now).await;
            if let Ok(StepResult::Done) = result {
                runbook.done.push(step);
                steps.push(step);
            }
            let id = runbook.id.clone();
            record.runbook = Some(runbook);
            // Saved whatever happened: done steps, and the notes of one that failed.
            self.save(&record, &mut version).await?;
            match result {
                Ok(StepResult::Done) => {}
                Ok(StepResult::NotYet) => break,
                Err(error) => {
                    return Err(FailoverError::Step {
                        runbook: id,
                        step,
                        error,
                    })
                }
            }
        }
        Ok(Outcome {
            record,
            decision,
            steps,
            finished,
        })
    }

    async fn run_step(
        &self,
        step: Step,
        runbook: &mut Runbook,
        token: u64,
        now: EpochMillis,
    ) -> Result<StepResult, PortError> {
        match step {
            Step::StartRestore => {
                for note in self.database.start().await {
                    runbook.note(note);
                }
            }
            Step::Flip => self.switch.point_to(runbook.kind.to()).await?,
            Step::Notify => {
                // Best effort: a broken notification channel must never hold traffic where
                // it is. The failure is kept in the notes, the audit record and the logs.
                let (subject, message) = self.message(runbook);
                if let Err(error) = self.notifier.notify(&subject, &message).await {
                    tracing::error!(%error, runbook = %runbook.id, "operators could not be notified");
                    runbook.note(format!("notification FAILED: {error}"));
                }
            }
            Step::Audit => {
                let entry = AuditEntry {
                    runbook: runbook.clone(),
                    written_ms: now,
                    token,
                };
                self.store.audit(&entry).await?;
            }
            Step::DatabaseReady => match self.database.ready().await {
                Ok(Some(note)) => {
                    runbook.note(&note);
                    // Best effort too: the databases are ready whether or not SNS answers.
                    if let Err(error) = self
                        .notifier
                        .notify(
                            "IoT DR: restored database available in DR",
                            &format!("{}: {note}", runbook.id),
                        )
                        .await
                    {
                        tracing::error!(%error, runbook = %runbook.id, "operators could not be notified");
                        runbook.note(format!("notification FAILED: {error}"));
                    }
                }
                Ok(None) => return Ok(StepResult::NotYet),
                Err(error) => {
                    runbook.note(format!("database not ready: {error}"));
                    return Err(error);
                }
            },
        }
        Ok(StepResult::Done)
    }

    fn message(&self, runbook: &Runbook) -> (String, String) {
        let subject = match runbook.kind {
            RunbookKind::Failover => format!("IoT DR: FAILED OVER to DR ({})", self.dr_region),
            RunbookKind::Failback => "IoT DR: failed back to primary".to_owned(),
        };
        let evidence = runbook
            .evidence
            .as_ref()
            .map_or_else(|| "operator decision".to_owned(), Round::summary);
        let next = match runbook.kind {
            RunbookKind::Failover => "Next: watch `drctl status`; when primary is healthy again, run `drctl reconcile --direction dr-to-primary --apply`, then `drctl failback`.",
            RunbookKind::Failback => "Next: watch `drctl status`; automatic failover is armed again after the dwell time.",
        };
        let message = format!(
            "{subject}\nrunbook: {}\nby: {}\nwhy: {}\nevidence: {evidence}\nnotes: {}\n{next}",
            runbook.id,
            runbook.by,
            runbook.reason,
            runbook.notes_line(),
        );
        (subject, message)
    }

    fn held_message(&self, state: &State, round: &Round) -> (String, String) {
        let hold = state.hold.as_ref();
        let subject = "IoT DR: primary DOWN, failover HELD".to_owned();
        let message = format!(
            "{subject}\n{} consecutive rounds down (threshold {}), but automatic failover is held by {}: {}{}.\nlast round: {}\nNext: `drctl failover --reason …` to move traffic to DR ({}), or `drctl release` to let the health checker do it.",
            state.down_streak,
            self.settings.failure_threshold,
            hold.map_or("?", |h| h.by.as_str()),
            hold.map_or("", |h| h.reason.as_str()),
            hold.and_then(|h| h.until_ms)
                .map(|until| format!(" (until {until} ms)"))
                .unwrap_or_default(),
            round.summary(),
            self.dr_region,
        );
        (subject, message)
    }
}

enum StepResult {
    Done,
    NotYet,
}
