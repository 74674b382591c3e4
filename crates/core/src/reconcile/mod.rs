//! Flow B, anti-entropy: DR's registry kept equal to primary's, in two tiers, repairing
//! through the replicator's own capture-and-apply path (same ledger, revoked wins).
//!
//! * [`service`] — one reconciler invocation (the Lambda and `drctl` call it): whether
//!   repairs are allowed, the status tier when due, the deep tier within the deadline.
//! * [`status_pass`] — the status tier: both listings compared by id and status.
//! * [`deep`] — the deep tier: things, links, policies, groups and shadows, a page at a
//!   time, checkpointed.
//! * [`diff`] — the streaming diff of two inventories sorted by id.
//! * [`cursor`] — where a pass stands between invocations, and the store that keeps it.
//! * [`ports`] — listings and the errors that stop a run.

pub mod cursor;
pub mod deep;
pub mod diff;
mod inventory;
pub mod ports;
pub mod service;
pub mod status_pass;

pub use cursor::{
    Checkpoint, CheckpointStore, CompletedPass, CompletedStatusPass, MemoryCheckpoint, PassCursor,
    PassTotals, Phase,
};
pub use deep::{Direction, ReconcileReport, Reconciler};
pub use diff::{diff, Diff, Drift, DriftCounts, InventoryEntry, PolicyDigest};
pub use ports::{
    count_by_status, CertificateLister, CertificatePage, ListOrder, NoLedger, ReconcileError,
    MAX_PAGE_SIZE, REPORTED_DRIFTS,
};
pub use service::{
    decide_repairs, record_status_pass, run_invocation, DeepTier, Progress, ReconcileInvocation,
    Repairs, RepairsRefused, StatusTier, Stopped, Unwatched, WhenNotAllowed,
};
pub use status_pass::{
    ReportOnly, StatusDrift, StatusDriftCounts, StatusPass, StatusPassReport, StatusRepair,
    DEFERRED_REPAIRS,
};
