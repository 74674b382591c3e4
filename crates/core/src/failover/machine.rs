//! The failover state machine: pure, fed one probe round at a time.
//!
//! ```text
//!            down round                 down streak ≥ failure_threshold
//!  Healthy ─────────────► Degraded ───────────────────────────────────► FailedOver
//!     ▲                      │        (not held, dwell since last flip)      │
//!     │  up streak ≥         │                                               │ operator: failback
//!     └──recovery_threshold──┘                                               ▼ (primary healthy long
//!     ▲                                                                FailingBack  enough, reverse
//!     └────────────────────────── runbook done ──────────────────────────┘      reconcile done)
//! ```
//!
//! * A round is *down* when at least `quorum` probes failed (default: all of them — as
//!   Route 53 calls an endpoint unhealthy only when nearly all its checkers see it fail):
//!   one flaky probe path never moves traffic.
//! * Hysteresis: one down round makes primary Degraded; only `failure_threshold`
//!   consecutive down rounds fail over, and only `recovery_threshold` consecutive up rounds
//!   make it Healthy again.
//! * Dwell: no automatic failover within `min_dwell` of the last flip, so a primary that
//!   flaps right after a failback does not bounce the fleet between regions.
//! * Hold: an operator's hold stops automatic failover (the rounds are still counted);
//!   force fails over now, whatever the probes say. Failback is never automatic.

use serde::{Deserialize, Serialize};

use super::probe::Round;
use crate::time::EpochMillis;

/// How eager the machine is. Production: 10 s rounds, threshold 3, recovery 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Consecutive down rounds before failing over.
    pub failure_threshold: u32,
    /// Consecutive up rounds before a degraded primary counts as healthy again.
    pub recovery_threshold: u32,
    /// Failed probes that make a round down; `None`: all of the round's probes.
    pub quorum: Option<u32>,
    /// No automatic failover within this long after the last flip.
    pub min_dwell_ms: EpochMillis,
    /// Failback needs every probe of primary passing continuously for this long.
    pub failback_after_healthy_ms: EpochMillis,
    /// Failback also needs a round this recent: a checker that stopped probing proves
    /// nothing about primary (about three round intervals).
    pub max_round_age_ms: EpochMillis,
}

/// Where traffic and the machine stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Primary serves; its probes pass.
    Healthy,
    /// Primary serves; some recent rounds were down.
    Degraded,
    /// DR serves.
    FailedOver,
    /// Traffic is being moved back to primary.
    FailingBack,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Healthy => "healthy",
            Mode::Degraded => "degraded",
            Mode::FailedOver => "failed-over",
            Mode::FailingBack => "failing-back",
        })
    }
}

/// An operator's hold on automatic failover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Who.
    pub by: String,
    /// Why.
    pub reason: String,
    /// When.
    pub at_ms: EpochMillis,
    /// When it lapses by itself (a maintenance window); `None`: until released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<EpochMillis>,
}

impl Hold {
    /// Whether the hold still holds at `now`.
    pub fn holds_at(&self, now: EpochMillis) -> bool {
        self.until_ms.is_none_or(|until| now < until)
    }
}

/// Everything the machine remembers between rounds (persisted by the state store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The mode.
    pub mode: Mode,
    /// When the mode was entered.
    pub since_ms: EpochMillis,
    /// Consecutive down rounds.
    pub down_streak: u32,
    /// Consecutive up rounds.
    pub up_streak: u32,
    /// Start of primary's current run of rounds in which *every* probe passed (a round
    /// that is merely not down does not count: failback wants all of primary back).
    pub primary_up_since_ms: Option<EpochMillis>,
    /// When the last round was observed.
    #[serde(default)]
    pub last_round_ms: Option<EpochMillis>,
    /// The last round's probe outcomes (for `drctl status`).
    #[serde(default)]
    pub last_round: Option<Round>,
    /// The operator's hold, if any.
    pub hold: Option<Hold>,
    /// When traffic last moved (either way).
    pub last_flip_ms: Option<EpochMillis>,
    /// When a DR → primary reconcile last completed (failback's precondition).
    pub reverse_reconciled_ms: Option<EpochMillis>,
    /// Rounds observed, ever.
    pub rounds: u64,
    /// Whether operators were told, during this run of down rounds, that the threshold was
    /// reached and nothing moved (held, or within the dwell time): once per outage.
    #[serde(default, alias = "held_alerted")]
    pub suppressed_alerted: bool,
    /// The last failover runbook (its id): failback finds the databases it restored by
    /// their `dr:runbook` tag once the runbook itself has finished and left the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failover_runbook: Option<String>,
}

/// Who holds a state nobody has stored yet: a first deploy (or a state table lost).
pub const FIRST_DEPLOY: &str = "first-deploy";

impl State {
    /// A primary believed healthy, as first deployed.
    pub fn initial(now: EpochMillis) -> Self {
        Self {
            mode: Mode::Healthy,
            since_ms: now,
            down_streak: 0,
            up_streak: 0,
            primary_up_since_ms: None,
            last_round_ms: None,
            last_round: None,
            hold: None,
            last_flip_ms: None,
            reverse_reconciled_ms: None,
            rounds: 0,
            suppressed_alerted: false,
            last_failover_runbook: None,
        }
    }

    /// The state when none is stored: a primary believed healthy, with automatic failover
    /// *held*. The health checker's schedule starts inside the DR stack's deploy, before
    /// primary's stack (its probes' roles, its capture) exists, so its first rounds see a
    /// healthy primary as down; armed, three of them would fail the fleet over to an
    /// empty DR. An operator arms it with `drctl release` once `drctl readiness` passes.
    /// A state table lost and recreated lands here too, which is the safe side: a held
    /// checker still pages once when primary goes down, and `drctl failover` still works.
    pub fn first_deployed(now: EpochMillis) -> Self {
        Self {
            hold: Some(Hold {
                by: FIRST_DEPLOY.to_owned(),
                reason: "no failover state yet (first deploy): run `drctl readiness`, then `drctl release` to arm automatic failover".to_owned(),
                at_ms: now,
                until_ms: None,
            }),
            ..Self::initial(now)
        }
    }

    fn enter(&mut self, mode: Mode, now: EpochMillis) {
        self.mode = mode;
        self.since_ms = now;
    }

    /// Which side serves traffic in this mode.
    pub fn serving(&self) -> crate::Side {
        match self.mode {
            Mode::Healthy | Mode::Degraded => crate::Side::Primary,
            Mode::FailedOver | Mode::FailingBack => crate::Side::Dr,
        }
    }
}

/// What a round or a command asks the runbook to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do.
    Stay,
    /// The failover threshold was reached but automatic failover is held.
    Held,
    /// The failover threshold was reached within the dwell time of the last flip.
    Dwelling,
    /// Move traffic to DR, for this reason.
    FailOver(String),
}

/// Fold one probe round into the state.
pub fn observe(state: &mut State, round: &Round, settings: &Settings) -> Decision {
    let now = round.at_ms;
    state.rounds += 1;
    state.last_round_ms = Some(now);
    state.last_round = Some(round.clone());
    if round.is_down(settings.quorum) {
        state.down_streak += 1;
        state.up_streak = 0;
    } else {
        state.up_streak += 1;
        state.down_streak = 0;
        state.suppressed_alerted = false;
    }
    // A hold with an expiry lapses by itself: the maintenance window is over.
    if state.hold.as_ref().is_some_and(|h| !h.holds_at(now)) {
        state.hold = None;
        state.suppressed_alerted = false;
    }
    if round.all_healthy() {
        state.primary_up_since_ms.get_or_insert(now);
    } else {
        state.primary_up_since_ms = None;
    }
    match state.mode {
        Mode::Healthy if state.down_streak > 0 => {
            state.enter(Mode::Degraded, now);
            // A threshold of 1 fails over on the first down round.
            decide_failover(state, round, settings)
        }
        Mode::Degraded if state.down_streak > 0 => decide_failover(state, round, settings),
        Mode::Degraded if state.up_streak >= settings.recovery_threshold => {
            state.enter(Mode::Healthy, now);
            Decision::Stay
        }
        _ => Decision::Stay,
    }
}

fn decide_failover(state: &mut State, round: &Round, settings: &Settings) -> Decision {
    if state.down_streak < settings.failure_threshold {
        return Decision::Stay;
    }
    if state.hold.is_some() {
        return Decision::Held;
    }
    let now = round.at_ms;
    if state
        .last_flip_ms
        .is_some_and(|flip| now - flip < settings.min_dwell_ms)
    {
        return Decision::Dwelling;
    }
    state.enter(Mode::FailedOver, now);
    state.last_flip_ms = Some(now);
    Decision::FailOver(format!(
        "{} consecutive rounds down (threshold {}); last round: {}",
        state.down_streak,
        settings.failure_threshold,
        round.summary()
    ))
}

/// Why an operator's command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Failing over when DR already serves.
    #[error("already {0}: DR serves traffic (a runbook still pending? `drctl failover --resume` continues it)")]
    AlreadyFailedOver(Mode),
    /// Failing back when primary serves.
    #[error("primary already serves traffic ({0}); nothing to fail back")]
    NotFailedOver(Mode),
    /// A runbook is still running.
    #[error("runbook {0} has not finished; let the health checker finish it, or `drctl failover --resume` first")]
    RunbookPending(String),
    /// The health checker has not probed recently.
    #[error("no probe round for {age_s} s: the health checker is not running, so primary's health is unknown")]
    StaleProbes {
        /// Seconds since the last round (or since the state was created).
        age_s: i64,
    },
    /// Primary has not been up long enough.
    #[error("primary has been up for {up_for_s} s of the {needed_s} s failback needs; wait, or check its probes")]
    PrimaryNotHealthyLongEnough {
        /// Seconds up so far (0: down now).
        up_for_s: i64,
        /// Seconds needed.
        needed_s: i64,
    },
    /// No reverse reconcile since the failover.
    #[error("no DR → primary reconcile since the failover: run `drctl reconcile --direction dr-to-primary --apply` first, so registrations made in DR reach primary")]
    NotReconciled,
    /// The failover restored databases in DR that took writes while DR served, and the
    /// operator has not said what becomes of them.
    #[error("failover {failover_runbook} restored {} database(s) in DR that took the application's writes while DR served: {}. Choose what becomes of those writes: `drctl failback --carry-back-dr-database` (a final snapshot of each, taken after the flip, copied into primary's account and region for you to merge or restore), or `drctl failback --discard-dr-database-writes --reason \"…\"` (on record); either way the DR database is then retired with a final snapshot kept", restored.len(), restored.join("; "))]
    DatabaseChoiceNeeded {
        /// The failover runbook.
        failover_runbook: String,
        /// What it restored, one line each.
        restored: Vec<String>,
    },
    /// The databases the failover restored could not be listed, so no choice can be made.
    #[error("cannot list the databases failover {failover_runbook} restored in DR ({error}); nothing done: fix the access and run `drctl failback` again")]
    DatabasesUnknown {
        /// The failover runbook.
        failover_runbook: String,
        /// Why.
        error: String,
    },
    /// Discarding DR's writes needs a reason on record.
    #[error("discarding DR's database writes needs a reason on record: `--reason \"…\"`")]
    DiscardWithoutReason,
}

/// The operator fails over now (`drctl failover`), held or not: an explicit decision.
/// From FailingBack too: a failback stuck on a step must not leave primary with no way out.
pub fn force_failover(state: &mut State, now: EpochMillis) -> Result<(), Refused> {
    if state.mode == Mode::FailedOver {
        return Err(Refused::AlreadyFailedOver(state.mode));
    }
    state.enter(Mode::FailedOver, now);
    state.last_flip_ms = Some(now);
    Ok(())
}

/// The operator starts failing back (`drctl failback`), if its preconditions hold.
pub fn begin_failback(
    state: &mut State,
    settings: &Settings,
    now: EpochMillis,
) -> Result<(), Refused> {
    if state.mode != Mode::FailedOver {
        return match state.mode {
            Mode::FailingBack => Ok(()), // resuming an interrupted failback
            mode => Err(Refused::NotFailedOver(mode)),
        };
    }
    let age = now - state.last_round_ms.unwrap_or(state.since_ms);
    if age > settings.max_round_age_ms {
        return Err(Refused::StaleProbes { age_s: age / 1000 });
    }
    // Down right now refuses failback whatever the configured time (even 0).
    let up_for = state.primary_up_since_ms.map(|since| now - since);
    if up_for.is_none_or(|up| up < settings.failback_after_healthy_ms) {
        let up_for = up_for.unwrap_or(0);
        return Err(Refused::PrimaryNotHealthyLongEnough {
            up_for_s: up_for / 1000,
            needed_s: settings.failback_after_healthy_ms / 1000,
        });
    }
    let failed_over_at = state.last_flip_ms.unwrap_or(state.since_ms);
    if state
        .reverse_reconciled_ms
        .is_none_or(|done| done < failed_over_at)
    {
        return Err(Refused::NotReconciled);
    }
    state.enter(Mode::FailingBack, now);
    Ok(())
}

/// The failback runbook finished: primary serves again.
pub fn complete_failback(state: &mut State, now: EpochMillis) {
    state.enter(Mode::Healthy, now);
    state.last_flip_ms = Some(now);
    state.down_streak = 0;
}
