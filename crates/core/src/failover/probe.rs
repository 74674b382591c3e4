//! What a probe of primary reports, and how a round of probes is judged.

use serde::{Deserialize, Serialize};

use crate::time::EpochMillis;

/// One probe's result in one round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeOutcome {
    /// Which probe (e.g. `tls iot.example.com:8883`).
    pub probe: String,
    /// Whether primary answered as a healthy primary does.
    pub healthy: bool,
    /// How long the probe took.
    pub latency_ms: u64,
    /// Why it failed, or what it saw.
    pub reason: String,
}

/// The outcomes of all probes at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    /// When the round ran.
    pub at_ms: EpochMillis,
    /// One outcome per probe.
    pub outcomes: Vec<ProbeOutcome>,
}

impl Round {
    /// Whether the round counts as down: at least `quorum` probes failed (`None`: all).
    /// A round without probes is down — nothing vouches for primary.
    pub fn is_down(&self, quorum: Option<u32>) -> bool {
        let failed = self.outcomes.iter().filter(|o| !o.healthy).count();
        let needed = quorum.map_or(self.outcomes.len(), |q| q as usize).max(1);
        self.outcomes.is_empty() || failed >= needed
    }

    /// Whether every probe passed (and there was at least one).
    pub fn all_healthy(&self) -> bool {
        !self.outcomes.is_empty() && self.outcomes.iter().all(|o| o.healthy)
    }

    /// One line for logs, notifications and audit records.
    pub fn summary(&self) -> String {
        self.outcomes
            .iter()
            .map(|o| {
                format!(
                    "{} {} in {} ms ({})",
                    o.probe,
                    if o.healthy { "ok" } else { "FAILED" },
                    o.latency_ms,
                    o.reason
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}
