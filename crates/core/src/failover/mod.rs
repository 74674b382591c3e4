//! Flow D, health and failover: judging primary from probe rounds, deciding with
//! hysteresis, and the runbooks that move traffic — all behind ports, so the same code runs
//! in the health-checker Lambda, in `drctl`, and against in-memory fakes in a 10,000-round
//! simulation. [`service`] is the health checker's invocation over those ports.

pub mod controller;
pub mod fleet_rto;
pub mod machine;
pub mod ports;
pub mod probe;
pub mod rto;
pub mod runbook;
pub mod service;
pub mod simulation;

pub use controller::{Controller, FailoverError, Outcome, PAGING_LEASE_MS};
pub use fleet_rto::{FleetRto, IotQuotaCode, IotQuotas};
pub use machine::{Decision, Hold, Mode, Refused, Settings, State, FIRST_DEPLOY};
pub use ports::{
    DatabaseFailback, DatabaseRecovery, Notifier, Readiness, StateStore, TrafficSwitch,
};
pub use probe::{ProbeOutcome, Round};
pub use rto::DnsRto;
pub use runbook::{
    AuditEntry, DatabaseChoice, DrDatabases, FailoverRecord, Paging, Runbook, RunbookKind, Step,
    Stored, NOTES_KEPT,
};
pub use service::{run_rounds, verify_switch_when_calm, HealthCheck, Prober, RoundResult, Rounds};

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;
