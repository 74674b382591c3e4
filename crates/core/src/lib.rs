//! The domain of the IoT disaster-recovery control plane.
//!
//! Everything here is pure: no AWS SDK, no Lambda runtime, no I/O beyond reading a config
//! file. The adapters in `dr-aws` implement this crate's narrow traits on SDK clients, the
//! Lambdas and `drctl` wire the two together.
//!
//! * [`ids`] — identifiers parsed once at the boundary (account ids, regions, role ARNs, names).
//! * [`config`] — the typed two-account topology every binary is configured with, one
//!   file per section.
//! * [`side`] — primary and DR.
//! * [`port`] — the error every port shares: which call failed, and whether to retry.
//! * [`certificate`] — certificate ids, PEMs and statuses.
//! * [`drill`] — what the drill's canary reads in DR after connecting: its shadow, as the
//!   device contract's device reads it on a new connection.
//! * [`failover`] — flow D: probe rounds, the failover state machine, fenced runbooks.
//! * [`replication`] — flow A: capture events, state messages, the idempotent DR apply.
//! * [`ratelimit`] — a token bucket for bulk API use.
//! * [`reconcile`] — flow B: the streaming diff of two certificate inventories.
//! * [`report`] — self-describing reports and their renderers (EMF, JSON, table).
//! * [`snapshots`] — flow C: the level-triggered snapshot controller's decisions.
//! * [`time`] — timestamps as the events carry them.
//! * [`timeouts`] — per-caller bounds on every AWS call.
//! * [`topic_rules`] — the application's IoT topic rules as DR must hold them (readiness).

pub mod certificate;
pub mod config;
pub mod drill;
pub mod failover;
pub mod ids;
pub mod port;
pub mod ratelimit;
pub mod reconcile;
pub mod replication;
pub mod report;
pub mod side;
pub mod snapshots;
pub mod time;
pub mod timeouts;
pub mod topic_rules;

pub use certificate::{CertificateId, CertificatePem, CertificateStatus};
pub use config::{
    ConfigError, DnsConfig, FailoverConfig, FlipMode, ProbeConfig, SandboxPrincipal, SandboxWorld,
    SideConfig, Topology, FUNCTIONS,
};
pub use ids::{
    AccountId, DomainName, Endpoint, InvalidId, PolicyName, Region, ResourceName, RoleAliasName,
    RoleArn, TemplateName, ThingGroupName, ThingName,
};
pub use port::PortError;
pub use side::Side;
pub use timeouts::CallTimeouts;
