//! A round: every probe at once, so an outage costs one timeout, not the sum of them; and
//! the topology's probes as flow D's [`Prober`].

use std::sync::Arc;

use dr_core::failover::{ProbeOutcome, Prober, Round};
use dr_core::Topology;

use super::probe::{Probe, ProbeConfigError};

/// Every probe of primary the topology configures, as flow D's [`Prober`]: a round runs
/// them all at once.
#[derive(Debug, Clone)]
pub struct Probes(Vec<Arc<Probe>>);

impl Probes {
    /// The topology's `[failover] probes`; an error when there are none (a checker with no
    /// probes would see every round as down) or one is misconfigured.
    pub fn of(topology: &Topology, session: &crate::AwsSession) -> Result<Self, ProbeConfigError> {
        if topology.failover.probes.is_empty() {
            return Err(ProbeConfigError {
                field: "failover.probes".to_owned(),
                kind: "empty",
                message: "configure at least one probe of primary (a checker with no probes \
                          would see every round as down)"
                    .to_owned(),
            });
        }
        Ok(Self(
            Probe::all(topology, session)?
                .into_iter()
                .map(Arc::new)
                .collect(),
        ))
    }
}

impl Prober for Probes {
    async fn round(&self, at_ms: dr_core::time::EpochMillis) -> Round {
        run_round(&self.0, at_ms).await
    }
}

/// Run every probe at once and collect the round.
pub async fn run_round(probes: &[Arc<Probe>], at_ms: dr_core::time::EpochMillis) -> Round {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, probe) in probes.iter().enumerate() {
        let probe = Arc::clone(probe);
        tasks.spawn(async move { (i, probe.check().await) });
    }
    let mut outcomes: Vec<Option<ProbeOutcome>> = vec![None; probes.len()];
    while let Some(joined) = tasks.join_next().await {
        if let Ok((i, outcome)) = joined {
            outcomes[i] = Some(outcome);
        }
    }
    Round {
        at_ms,
        outcomes: outcomes
            .into_iter()
            .zip(probes)
            .map(|(outcome, probe)| {
                outcome.unwrap_or_else(|| ProbeOutcome {
                    probe: probe.name(),
                    healthy: false,
                    latency_ms: 0,
                    reason: "the probe task panicked".to_owned(),
                })
            })
            .collect(),
    }
}
