//! The failover record the state store keeps, and the runbooks in it: their steps, in
//! order, each marked done as it finishes, with the evidence and notes an audit records.
//!
//! The record stays small whatever happens: a runbook keeps its first and last notes and
//! counts the ones between (a step failing every round for hours must not grow the state
//! item towards DynamoDB's 400 KB limit), and probe reasons are cut to a line.

use serde::{Deserialize, Serialize};

use super::machine::State;
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

    /// The side the traffic switch must keep showing now, if any: the side traffic went to
    /// once a runbook's flip is done (its kind's side: a failover runbook still restoring
    /// for an hour shows DR, a failback whose flip is done shows primary), the state's
    /// serving side outside runbooks, and `None` while a runbook has not flipped yet. Then
    /// the flip step owns the switch: a round showing the old side would fight a flip
    /// another invocation is making (a `0` from a round during a failback's settle would
    /// keep Route 53 on DR), and showing the new side would move traffic outside the step
    /// that records it. Route 53 keeps the last status meanwhile (missing data keeps it).
    pub fn switch_shows(&self) -> Option<Side> {
        match &self.runbook {
            None => Some(self.state.serving()),
            Some(runbook) if runbook.done.contains(&Step::Flip) => Some(runbook.kind.to()),
            Some(_) => None,
        }
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
    /// Failback: carry the writes DR's restored databases took into primary's account and
    /// region (a final snapshot, copied there; may span invocations), or record that the
    /// operator discarded them.
    CarryBack,
    /// Failback: retire the databases the failover restored in DR (deleted with a final
    /// snapshot kept; one under deletion protection is left, loudly, for a person).
    RetireDatabases,
}

impl Step {
    /// Steps only an operator's `drctl` runs: they call primary's region and act on data,
    /// so the health checker (DR-only, on the data plane) stops before them and leaves the
    /// runbook to `drctl failback`, which continues it.
    pub fn operator_only(self) -> bool {
        matches!(self, Step::CarryBack | Step::RetireDatabases)
    }
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
            // Carried back only after the flip (and its settle), so DR's database takes no
            // more of the fleet's writes; audited last, so the record says what became of
            // DR's data.
            RunbookKind::Failback => &[
                Step::Flip,
                Step::Notify,
                Step::CarryBack,
                Step::RetireDatabases,
                Step::Audit,
            ],
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
    /// The latest word of a step that waits (the database restores: each one's status and
    /// the time waited), replaced every round rather than noted, so a long wait neither
    /// floods the notes nor goes unseen in `drctl status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// The wait passed its bound and operators were told (once per runbook).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overdue: bool,
    /// A step whose page an invocation claimed (with a fenced save) and has not marked
    /// done yet: see [`Paging`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
    /// A failback's word on the databases the failover restored in DR: which failover,
    /// what it restored, and what the operator chose for the writes they took (absent in
    /// failover runbooks and in failbacks stored before the choice existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dr_databases: Option<DrDatabases>,
}

/// What the operator chose for the writes DR's restored databases took while DR served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "choice")]
pub enum DatabaseChoice {
    /// A final snapshot of each, taken after the flip, carried into primary's account and
    /// region for the operator's merge or restore (`drctl failback --carry-back-dr-database`).
    CarryBack,
    /// Dropped, on record (`--discard-dr-database-writes --reason …`).
    Discard {
        /// Why, in the operator's words.
        reason: String,
    },
}

impl std::fmt::Display for DatabaseChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseChoice::CarryBack => f.write_str("carry DR's database writes back to primary"),
            DatabaseChoice::Discard { reason } => {
                write!(f, "DISCARD DR's database writes: {reason}")
            }
        }
    }
}

/// A failback's record of DR's restored databases and the operator's choice for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrDatabases {
    /// The failover runbook whose restores they are (`dr:runbook` tag).
    pub failover_runbook: String,
    /// Each one as found when the failback began: name, place, source, data time.
    pub restored: Vec<String>,
    /// The operator's choice; `None` when the failover restored nothing.
    pub choice: Option<DatabaseChoice>,
}

/// An invocation's claim to send a step's page: saved (fenced) before the page is sent, so
/// of two invocations continuing the same runbook only the one whose claim landed pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paging {
    /// The step whose page it is.
    pub step: Step,
    /// When it was claimed.
    pub at_ms: EpochMillis,
}

/// Notes a runbook keeps: the first half of these and the latest half.
pub const NOTES_KEPT: usize = 20;
/// The longest note or probe reason kept, in characters.
pub const NOTE_CHARS: usize = 300;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `text` cut to [`NOTE_CHARS`].
pub(crate) fn bounded(text: &str) -> String {
    if text.chars().count() <= NOTE_CHARS {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(NOTE_CHARS).collect::<String>())
    }
}

impl Runbook {
    pub(crate) fn new(
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
            paging: None,
            progress: None,
            overdue: false,
            dr_databases: None,
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

    /// The first step not done yet.
    pub fn next_step(&self) -> Option<Step> {
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
