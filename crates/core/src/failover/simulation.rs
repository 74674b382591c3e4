//! The state machine against synthetic probe rounds: noise (each probe fails at random)
//! and, optionally, a real outage from some round on (every probe fails). The tests and
//! `cargo bench -p dr-core --bench failover_simulation` use it to count false failovers
//! and measure decision latency.

use super::machine::{observe, Decision, Settings, State};
use super::probe::{ProbeOutcome, Round};

/// What a simulated run saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimulationReport {
    /// Rounds simulated.
    pub rounds: u64,
    /// Rounds that counted as down.
    pub down_rounds: u64,
    /// Longest run of consecutive down rounds before any outage.
    pub longest_noise_streak: u32,
    /// Failovers decided before the outage began (false failovers).
    pub false_failovers: u64,
    /// Rounds from the outage's first round to the failover decision, counting both
    /// (1 = decided in the outage's first round).
    pub decision_rounds: Option<u64>,
}

/// SplitMix64: a tiny seeded generator, so a simulation is the same on every machine.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next number in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Run `rounds` rounds of `probes` probes, each failing with `failure_rate`, every probe
/// failing from round `outage_from` on (0-based), `interval_ms` apart.
pub fn simulate(
    settings: &Settings,
    rounds: u64,
    probes: usize,
    failure_rate: f64,
    outage_from: Option<u64>,
    seed: u64,
    interval_ms: i64,
) -> SimulationReport {
    let mut rng = SplitMix64::new(seed);
    let mut state = State::initial(0);
    let mut report = SimulationReport::default();
    for n in 0..rounds {
        let outage = outage_from.is_some_and(|from| n >= from);
        let outcomes = (0..probes)
            .map(|p| {
                let healthy = !outage && rng.next_f64() >= failure_rate;
                ProbeOutcome {
                    probe: format!("probe-{p}"),
                    healthy,
                    latency_ms: 20,
                    reason: if healthy { "ok" } else { "timed out" }.to_owned(),
                }
            })
            .collect();
        let round = Round {
            at_ms: n as i64 * interval_ms,
            outcomes,
        };
        report.rounds += 1;
        if round.is_down(settings.quorum) {
            report.down_rounds += 1;
        }
        let decision = observe(&mut state, &round, settings);
        if !outage {
            report.longest_noise_streak = report.longest_noise_streak.max(state.down_streak);
        }
        if let Decision::FailOver(_) = decision {
            match outage_from {
                Some(from) if n >= from => {
                    report.decision_rounds = Some(n - from + 1);
                    break;
                }
                _ => {
                    report.false_failovers += 1;
                    // Count on: put primary back as an operator's failback would.
                    state = State::initial(round.at_ms);
                }
            }
        }
    }
    report
}
