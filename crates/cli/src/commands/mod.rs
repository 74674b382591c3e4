//! One module per `drctl` subcommand.

pub(crate) mod config;
pub(crate) mod dlq;
pub(crate) mod drill;
pub(crate) mod failover;
pub(crate) mod readiness;
pub(crate) mod reconcile;
pub(crate) mod snapshot;
pub(crate) mod status;
pub(crate) mod whoami;
