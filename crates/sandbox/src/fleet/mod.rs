//! A simulated fleet in primary, replicated to DR through the real Lambda binaries.
//!
//! What a fleet provisioner (and AWS IoT) would do in primary — register a fleet CA,
//! register device certificates (most by RegisterCertificate, some by just-in-time
//! registration followed by activation), create things, attach things and a policy, put
//! every wearable in its ward's thing group (whose parent carries the alerts policy), keep a
//! role alias for uploads, revoke a certificate — done against the sandbox's primary
//! account. After each API call the
//! event AWS would emit for it is handed to the capture binary, and the replication queue
//! is fed to the replicator binary, as the SQS event source mapping would. Nothing is
//! written to DR except by the replicator (and the fleet CA, which operators register in
//! both regions — a readiness precondition).
//!
//! The parts, each in its own file: `wiring` (the capture and replicator binaries and the
//! queue between them), `provisioner` (the API calls in primary and the events they emit),
//! `simulate` (the plan, run device by device), `report` (what DR holds afterwards),
//! `canary` (the canary's files for the drill), `naming` (the names the fleet is set up
//! under) and `error`.

mod canary;
mod error;
mod naming;
mod provisioner;
mod report;
mod simulate;
mod wiring;

pub use canary::CanaryFiles;
pub use error::FleetError;
pub use naming::{
    CANARY, FLEET_POLICY, FLEET_ROOT_GROUP, FLEET_WARD_GROUP, GROUP_POLICY, PROVISIONING_TEMPLATE,
    ROLE_ALIAS,
};
pub use report::{FleetReport, Mismatch};
pub use simulate::{simulate_fleet, FleetPlan, FleetProgress};
pub use wiring::{LambdaPaths, ReplicationWiring};
