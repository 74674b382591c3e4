//! Outages: what one applies to (a region, or Route 53's control plane), how it behaves,
//! and a change as the control API takes it.

use serde::{Deserialize, Serialize};

/// How an unavailable region (or Route 53's control plane) behaves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum OutageMode {
    /// The connection is closed without an answer: the client sees it refused.
    Refuse,
    /// Accepted and never answered: the client waits for its own timeout.
    Hang,
    /// Answered, after this many seconds.
    Slow {
        /// The delay.
        seconds: f64,
    },
}

impl std::fmt::Display for OutageMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refuse => f.write_str("refuse"),
            Self::Hang => f.write_str("hang"),
            Self::Slow { seconds } => write!(f, "slow ({seconds} s)"),
        }
    }
}

/// What an outage applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "kebab-case")]
pub enum OutageScope {
    /// Every call signed for this region (Route 53's aside).
    Region {
        /// The region, e.g. `us-east-1`.
        region: String,
    },
    /// Route 53's global control plane (its API lives in us-east-1).
    Route53,
}

impl std::fmt::Display for OutageScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Region { region } => write!(f, "region {region}"),
            Self::Route53 => f.write_str("Route 53's control plane"),
        }
    }
}

/// One outage change, as the control API takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutageChange {
    /// What it applies to.
    #[serde(flatten)]
    pub scope: OutageScope,
    /// The outage, or `None` to end it.
    pub outage: Option<OutageMode>,
}
