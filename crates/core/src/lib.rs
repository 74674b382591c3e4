//! The domain of the IoT disaster-recovery control plane.
//!
//! Everything here is pure: no AWS SDK, no Lambda runtime, no I/O beyond reading a config
//! file. The adapters in `dr-aws` implement this crate's narrow traits on SDK clients, the
//! Lambdas and `drctl` wire the two together.
//!
//! * [`ids`] — identifiers parsed once at the boundary (account ids, regions, role ARNs, names).
//! * [`topology`] — the typed two-account topology every binary is configured with.

pub mod ids;
pub mod topology;

pub use ids::{AccountId, DomainName, Endpoint, InvalidId, Region, ResourceName, RoleArn};
pub use topology::{ConfigError, Side, SideConfig, Topology};
