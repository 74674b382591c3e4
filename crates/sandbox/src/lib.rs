//! The local two-account AWS world used by tests, the demo and `drctl sandbox`.
//!
//! * [`launcher`] — the moto server on loopback: start, health, stop, reset.
//! * [`provision`] — the resources every flow needs, in both accounts, idempotently.

pub mod launcher;
pub mod provision;

pub use launcher::{LauncherPaths, SandboxError, SandboxServer};
pub use provision::{provision, Outcome, ProvisionError, Provisioned};
