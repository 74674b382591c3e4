//! What the proxy counted: per `service:Operation` and per region and service, as the
//! control API reports it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the proxy did, per `service:Operation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCounts {
    /// Forwarded to the sandbox.
    pub forwarded: u64,
    /// Answered with a throttling error (by probability or over the quota).
    pub throttled: u64,
    /// Answered with a 503.
    pub server_errors: u64,
    /// Dropped without an answer (by probability or while down).
    pub dropped: u64,
    /// Refused by IAM.
    pub denied: u64,
    /// Forwarded (and counted so), then the answer dropped and the connection closed.
    #[serde(default)]
    pub replies_dropped: u64,
}

/// What the proxy did with the calls of one region and service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionCounts {
    /// Calls that reached the region (outage or not: the outage check comes first).
    pub attempted: u64,
    /// Refused or hung by an outage.
    pub swallowed: u64,
    /// Delayed by a slow outage, then answered.
    pub slowed: u64,
}

/// Everything the proxy counted, as its control API reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Per `service:Operation`.
    pub calls: BTreeMap<String, CallCounts>,
    /// Per `region service` (`route53` for Route 53's control plane).
    pub regions: BTreeMap<String, RegionCounts>,
}

impl Counts {
    /// The counts of `region` (all services), or of `route53`.
    pub fn region(&self, region: &str) -> RegionCounts {
        self.regions
            .iter()
            .filter(|(k, _)| k.split(' ').next() == Some(region))
            .fold(RegionCounts::default(), |mut sum, (_, c)| {
                sum.attempted += c.attempted;
                sum.swallowed += c.swallowed;
                sum.slowed += c.slowed;
                sum
            })
    }
}
