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
//!
//! Failover puts traffic first: flip → notify operators → start the database restore →
//! audit record → database ready. Every step calls the DR region's data plane only (the
//! flip is a PutMetricData in DR, the restore lists and restores DR's own copies), so a
//! primary region that hangs or refuses cannot stop it, and nothing waits for RDS before
//! devices are steered away: IoT in DR accepts them without the database. A missing
//! snapshot never blocks anything; it is reported. Failback: flip back → notify → audit,
//! then primary is Healthy and fenced against flapping by the dwell time.

use super::machine::{self, Decision, Hold, Mode, Refused, Settings, State};
use super::ports::{DatabaseRecovery, Notifier, Readiness, StateStore, TrafficSwitch};
use super::probe::Round;
use super::runbook::{bounded, AuditEntry, FailoverRecord, Runbook, RunbookKind, Step, Stored};
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
                for note in self.database.start(&runbook.id).await {
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
            Step::DatabaseReady => match self.database.ready(&runbook.id, runbook.started_ms).await
            {
                Ok(Readiness::Ready(note)) => {
                    runbook.progress = None;
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
