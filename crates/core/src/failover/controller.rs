//! The failover controller: persisted state, fenced decisions, and the runbooks that move
//! traffic, over the ports in [`ports`](super::ports).
//!
//! Every change goes load → change → save-if-version-unchanged. The version is the fencing
//! token: of two health checkers (an overlapping schedule, an operator's `drctl` at the same
//! moment) only the one whose conditional save lands may act; the other stops with
//! [`FailoverError::Fenced`] before touching anything.
//!
//! A runbook is a list of idempotent steps kept *in* the state, each marked done with a
//! fenced save as it finishes, so a runbook cut short (timeout, crash) is continued by the
//! next invocation from the step it stopped at — level-triggered, like the other flows.
//! A step's page is claimed with a fenced save before it is sent, so two invocations
//! continuing one runbook never both page ([`PAGING_LEASE_MS`]); every round whose save won
//! republishes the side traffic is on ([`FailoverRecord::switch_shows`]).
//!
//! Failover puts traffic first: flip → notify operators → start the database restore →
//! audit record → database ready. Every step calls the DR region's data plane only (the
//! flip is a PutMetricData in DR, the restore lists and restores DR's own copies), so a
//! primary region that hangs or refuses cannot stop it, and nothing waits for RDS before
//! devices are steered away: IoT in DR accepts them without the database. A missing
//! snapshot never blocks anything; it is reported. Failback: flip back → notify → carry
//! DR's database writes back (or record that the operator discarded them) → retire the
//! databases the failover restored → audit, then primary is Healthy and fenced against
//! flapping by the dwell time. The two database steps are the operator's: they call
//! primary's region, so the health checker (DR's data plane only) stops before them and
//! `drctl failback` continues the runbook.

use super::machine::{self, Decision, Hold, Mode, Refused, Settings, State};
use super::ports::{
    DatabaseFailback, DatabaseRecovery, Notifier, Readiness, StateStore, TrafficSwitch,
};
use super::probe::Round;
use super::runbook::{
    bounded, AuditEntry, DatabaseChoice, DrDatabases, FailoverRecord, Paging, Runbook, RunbookKind,
    Step, Stored,
};
use crate::port::PortError;
use crate::time::EpochMillis;

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
    D: DatabaseRecovery + DatabaseFailback + Sync,
{
    async fn load(&self, now: EpochMillis) -> Result<Stored, FailoverError> {
        Ok(self
            .store
            .load()
            .await
            .map_err(FailoverError::Store)?
            .unwrap_or(Stored {
                record: FailoverRecord {
                    state: State::first_deployed(now),
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
        // Primary is down past the threshold and nothing will move (held, or too soon after
        // the last flip): operators must know now, once per outage, not when they next look.
        // Sent only once this round's save has won (a fenced round pages nobody); best
        // effort, like every notice.
        let suppressed = matches!(decision, Decision::Held | Decision::Dwelling);
        let alert_suppressed = suppressed && !record.state.suppressed_alerted;
        if alert_suppressed {
            record.state.suppressed_alerted = true;
        }
        if let Decision::FailOver(reason) = &decision {
            let runbook = Runbook::new(
                RunbookKind::Failover,
                "health-checker",
                reason.clone(),
                Some(round.clone()),
                now,
            );
            record.state.last_failover_runbook = Some(runbook.id.clone());
            record.runbook = Some(runbook);
        }
        self.save(&record, &mut version).await?;
        // Level-triggered: every round whose save just won shows the side traffic is on,
        // runbook or not (a failover runbook waits for RDS for tens of minutes, and a silent
        // stream after the flip's single 0 let a late 1 send traffic back to primary).
        // Published right after that save, before any step: a fenced round returned above,
        // and nothing this round does comes between its save and the datapoint. Another
        // decider may still save in the instant between (a re-read would cost a GetItem a
        // round and leave the same gap); the stream being level-triggered, such a datapoint
        // weighs one alarm period at most before the next rounds' outweigh it.
        if let Some(side) = record.switch_shows() {
            if let Err(error) = self.switch.heartbeat(side).await {
                tracing::warn!(%error, "traffic switch heartbeat failed; retried next round");
            }
        }
        if alert_suppressed {
            let (subject, message) = self.suppressed_message(&record.state, &round, &decision);
            if let Err(error) = self.notifier.notify(&subject, &message).await {
                tracing::error!(%error, "operators could not be told that failover is suppressed");
            }
        }
        self.finish(record, version, decision, now, Caller::HealthChecker)
            .await
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
        let runbook = Runbook::new(RunbookKind::Failover, by, reason.clone(), None, now);
        record.state.last_failover_runbook = Some(runbook.id.clone());
        record.runbook = Some(runbook);
        self.save(&record, &mut version).await?;
        self.finish(
            record,
            version,
            Decision::FailOver(reason),
            now,
            Caller::Operator,
        )
        .await
    }

    /// The operator fails back (`drctl failback`), if primary has been healthy long
    /// enough, a reverse reconcile has run since the failover, and — when the failover
    /// restored databases in DR — the operator has chosen what becomes of the writes they
    /// took (`choice`), which the runbook and so the audit keep. Run again, it continues a
    /// failback in progress (its recorded choice stands).
    pub async fn failback(
        &self,
        by: &str,
        choice: Option<DatabaseChoice>,
        now: EpochMillis,
    ) -> Result<Outcome, FailoverError> {
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
            let dr_databases = self.dr_databases(&record.state, choice).await?;
            let mut reason = format!(
                "primary up since {} and reverse reconcile done",
                record.state.primary_up_since_ms.unwrap_or(now)
            );
            if let Some(choice) = dr_databases.as_ref().and_then(|d| d.choice.as_ref()) {
                reason.push_str(&format!("; {choice}"));
            }
            let mut runbook = Runbook::new(RunbookKind::Failback, by, reason, None, now);
            runbook.dr_databases = dr_databases;
            record.runbook = Some(runbook);
            self.save(&record, &mut version).await?;
        }
        self.finish(record, version, Decision::Stay, now, Caller::Operator)
            .await
    }

    /// What the failover restored in DR and the operator's choice for it; refused when it
    /// restored something and no choice was made. Listing fails loudly: a failback that
    /// cannot see DR's databases cannot say what becomes of their writes.
    async fn dr_databases(
        &self,
        state: &State,
        choice: Option<DatabaseChoice>,
    ) -> Result<Option<DrDatabases>, FailoverError> {
        let Some(failover_runbook) = state.last_failover_runbook.clone() else {
            // A failover stored before the id was kept: its databases cannot be found by
            // tag; `drctl status` and the RDS console show them (nothing is retired).
            return Ok(None);
        };
        if let Some(DatabaseChoice::Discard { reason }) = &choice {
            if reason.trim().is_empty() {
                return Err(Refused::DiscardWithoutReason.into());
            }
        }
        let restored = self
            .database
            .restored(&failover_runbook)
            .await
            .map_err(|e| Refused::DatabasesUnknown {
                failover_runbook: failover_runbook.clone(),
                error: e.to_string(),
            })?;
        if !restored.is_empty() && choice.is_none() {
            return Err(Refused::DatabaseChoiceNeeded {
                failover_runbook,
                restored,
            }
            .into());
        }
        let choice = choice.map(|c| match c {
            DatabaseChoice::Discard { reason } => DatabaseChoice::Discard {
                reason: bounded(&reason),
            },
            DatabaseChoice::CarryBack => DatabaseChoice::CarryBack,
        });
        Ok(Some(DrDatabases {
            failover_runbook,
            restored: restored.iter().map(|r| bounded(r)).collect(),
            choice,
        }))
    }

    /// Continue a pending runbook without observing a round (`drctl failover --resume`).
    pub async fn resume(&self, now: EpochMillis) -> Result<Outcome, FailoverError> {
        let Stored { record, version } = self.load(now).await?;
        self.finish(record, version, Decision::Stay, now, Caller::Operator)
            .await
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
            state.suppressed_alerted = false;
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
        caller: Caller,
    ) -> Result<Outcome, FailoverError> {
        let mut steps = Vec::new();
        let mut finished = None;
        while let Some(mut runbook) = record.runbook.take() {
            if runbook
                .next_step()
                .is_some_and(|s| s.operator_only() && caller == Caller::HealthChecker)
            {
                // The operator's `drctl failback` continues it; the checker's round has
                // saved and published the side traffic is on, which is all it does here.
                record.runbook = Some(runbook);
                break;
            }
            let Some(step) = runbook.next_step() else {
                if runbook.kind == RunbookKind::Failback {
                    machine::complete_failback(&mut record.state, now);
                }
                finished = Some(runbook);
                self.save(&record, &mut version).await?;
                break;
            };
            if runbook
                .paging
                .is_some_and(|p| p.step == step && now - p.at_ms < PAGING_LEASE_MS)
            {
                // Another invocation claimed this step's page moments ago and is sending
                // it: it marks the step done; this one leaves the runbook to it.
                record.runbook = Some(runbook);
                break;
            }
            // Boxed: the steps' futures (restores, promotion, carry-back, retirement) nest
            // deep enough to overflow a 2 MiB worker-thread stack in a debug build when held
            // inline in every caller's future.
            let result = Box::pin(self.run_step(step, &mut runbook, version, now)).await;
            let result = match result {
                Ok(StepResult::Page(subject, message)) => {
                    // Claim the page with a fenced save first: of two invocations continuing
                    // this runbook (a round and `drctl failover --resume` after a crash),
                    // only the one whose claim lands pages; the other stops here, fenced,
                    // having sent nothing.
                    runbook.paging = Some(Paging { step, at_ms: now });
                    record.runbook = Some(runbook.clone());
                    self.save(&record, &mut version).await?;
                    self.page(&mut runbook, &subject, &message).await;
                    runbook.paging = None;
                    Ok(StepResult::Done)
                }
                other => other,
            };
            if let Ok(StepResult::Done) = result {
                runbook.done.push(step);
                steps.push(step);
            }
            let id = runbook.id.clone();
            record.runbook = Some(runbook);
            // Saved whatever happened: done steps, and the notes of one that failed.
            self.save(&record, &mut version).await?;
            match result {
                Ok(StepResult::Done | StepResult::Page(..)) => {}
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

    /// Send a step's page, best effort: a broken notification channel must never hold
    /// traffic where it is. The failure is kept in the notes, the audit record and the logs.
    async fn page(&self, runbook: &mut Runbook, subject: &str, message: &str) {
        if let Err(error) = self.notifier.notify(subject, message).await {
            tracing::error!(%error, runbook = %runbook.id, "operators could not be notified");
            runbook.note(format!("notification FAILED: {error}"));
        }
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
                for note in self.database.start(&runbook.id).await {
                    runbook.note(note);
                }
            }
            Step::Flip => self.switch.point_to(runbook.kind.to()).await?,
            Step::Notify => {
                let (subject, message) = self.message(runbook);
                return Ok(StepResult::Page(subject, message));
            }
            Step::Audit => {
                let entry = AuditEntry {
                    runbook: runbook.clone(),
                    written_ms: now,
                    token,
                };
                self.store.audit(&entry).await?;
            }
            Step::CarryBack => return self.carry_back(runbook).await,
            Step::RetireDatabases => return self.retire(runbook).await,
            Step::DatabaseReady => match self.database.ready(&runbook.id, runbook.started_ms).await
            {
                Ok(Readiness::Ready(note)) => {
                    runbook.progress = None;
                    runbook.note(&note);
                    // The databases are ready whether or not SNS answers.
                    return Ok(StepResult::Page(
                        "IoT DR: restored database available in DR".to_owned(),
                        format!("{}: {note}", runbook.id),
                    ));
                }
                Ok(Readiness::Waiting { progress, overdue }) => {
                    // Past the bound the runbook keeps waiting, loudly: finishing would
                    // announce a database that is not there, and RDS may still deliver it
                    // (a large restore takes hours). Operators are told once; the notes
                    // keep it; `drctl status` shows the progress every round.
                    if overdue && !runbook.overdue {
                        runbook.overdue = true;
                        runbook.note(&progress);
                        if let Err(error) = self
                            .notifier
                            .notify(
                                "IoT DR: restored database OVERDUE in DR",
                                &format!("{}: {progress}", runbook.id),
                            )
                            .await
                        {
                            tracing::error!(%error, runbook = %runbook.id, "operators could not be notified");
                            runbook.note(format!("notification FAILED: {error}"));
                        }
                    }
                    runbook.progress = Some(progress);
                    return Ok(StepResult::NotYet);
                }
                Err(error) => {
                    runbook.note(format!("database not ready: {error}"));
                    return Err(error);
                }
            },
        }
        Ok(StepResult::Done)
    }

    /// Failback's carry-back: nothing to do without restored databases, a note on record
    /// when the operator discarded their writes, else one look at the snapshots' journey.
    async fn carry_back(&self, runbook: &mut Runbook) -> Result<StepResult, PortError> {
        let Some(dr) = runbook.dr_databases.clone() else {
            runbook.note("no DR database recorded for this failback: nothing carried back");
            return Ok(StepResult::Done);
        };
        match &dr.choice {
            None => {
                runbook.note(format!(
                    "failover {} left no restored database in DR: nothing to carry back",
                    dr.failover_runbook
                ));
                Ok(StepResult::Done)
            }
            Some(DatabaseChoice::Discard { reason }) => {
                runbook.note(format!(
                    "DR's database writes DISCARDED by {}: {reason} (databases: {})",
                    runbook.by,
                    dr.restored.join("; ")
                ));
                Ok(StepResult::Done)
            }
            Some(DatabaseChoice::CarryBack) => {
                let look = self
                    .database
                    .carry_back(&dr.failover_runbook, &runbook.id, runbook.started_ms)
                    .await;
                Self::waited(runbook, look, "carry-back")
            }
        }
    }

    /// Failback's retirement of the failover's databases (whatever the choice: their
    /// writes are carried back or discarded on record by now).
    async fn retire(&self, runbook: &mut Runbook) -> Result<StepResult, PortError> {
        let Some(dr) = runbook.dr_databases.clone().filter(|d| d.choice.is_some()) else {
            return Ok(StepResult::Done);
        };
        let look = self
            .database
            .retire(&dr.failover_runbook, &runbook.id, runbook.started_ms)
            .await;
        Self::waited(runbook, look, "retirement")
    }

    /// A waiting step's look into the runbook: done with its note, or its progress shown
    /// (replaced every look) until RDS is done; a failure is noted and retried.
    fn waited(
        runbook: &mut Runbook,
        look: Result<Readiness, PortError>,
        what: &str,
    ) -> Result<StepResult, PortError> {
        match look {
            Ok(Readiness::Ready(note)) => {
                runbook.progress = None;
                runbook.note(note);
                Ok(StepResult::Done)
            }
            Ok(Readiness::Waiting { progress, .. }) => {
                runbook.progress = Some(format!(
                    "{progress} (`drctl failback` again continues the {what})"
                ));
                Ok(StepResult::NotYet)
            }
            Err(error) => {
                runbook.note(format!("{what} failed: {error}"));
                Err(error)
            }
        }
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

    fn suppressed_message(
        &self,
        state: &State,
        round: &Round,
        decision: &Decision,
    ) -> (String, String) {
        let down = format!(
            "{} consecutive rounds down (threshold {})",
            state.down_streak, self.settings.failure_threshold
        );
        let (subject, why, release) = match decision {
            Decision::Dwelling => (
                "IoT DR: primary DOWN, failover SUPPRESSED (dwell time)".to_owned(),
                format!(
                    "{down}, but traffic last moved at {} ms, within the {} s dwell time that keeps a flapping primary from bouncing the fleet",
                    state.last_flip_ms.unwrap_or_default(),
                    self.settings.min_dwell_ms / 1000
                ),
                "the health checker fails over by itself once the dwell time has passed and primary is still down",
            ),
            _ => {
                let hold = state.hold.as_ref();
                (
                    "IoT DR: primary DOWN, failover HELD".to_owned(),
                    format!(
                        "{down}, but automatic failover is held by {}: {}{}",
                        hold.map_or("?", |h| h.by.as_str()),
                        hold.map_or("", |h| h.reason.as_str()),
                        hold.and_then(|h| h.until_ms)
                            .map(|until| format!(" (until {until} ms)"))
                            .unwrap_or_default(),
                    ),
                    "`drctl release` lets the health checker do it",
                )
            }
        };
        let message = format!(
            "{subject}\n{why}.\nlast round: {}\nNext: `drctl failover --reason …` to move traffic to DR ({}) now, or wait: {release}.",
            round.summary(),
            self.dr_region,
        );
        (subject, message)
    }
}

/// Who continues a runbook: the health checker's round stops before the operator's steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    HealthChecker,
    Operator,
}

enum StepResult {
    Done,
    NotYet,
    /// The step's work is done; its page is to be sent by the invocation whose claim lands.
    Page(String, String),
}

/// How long a claimed page keeps other invocations from sending it. A page is sent at
/// least once and, between concurrent invocations, at most once: two deciders racing on
/// one runbook never both page (the claim's fenced save picks one), but an invocation that
/// claimed and then died before its page went out (a crash, a Lambda timeout) must not
/// silence it: for a fleet of medical wearables a lost "FAILED OVER" page is worse than a
/// duplicate. So a claim older than this is taken over and the page sent again — a
/// duplicate only when the claimer was slower than this, never a silent runbook. SNS
/// answers in well under a second; a minute covers the SDK's retries.
pub const PAGING_LEASE_MS: EpochMillis = 60_000;
