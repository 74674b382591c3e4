//! The game day: primary's whole region fails under the real health-checker binary.
//!
//! A local stand-in for primary's IoT endpoint serves and the checker (through the Runtime
//! API emulator, one round per invocation, as a fast schedule) probes it. Then the region
//! fails as AWS regions do: the fault proxy in front of the sandbox hangs (or refuses) every
//! call signed for primary's region — Route 53's control plane too, if asked — and the
//! stand-in endpoint, which lives in that region, hangs or refuses with it. The checker is
//! started afresh at that moment (the cold start a timed-out Lambda gets) and invoked until
//! its runbook has failed over: traffic flipped, operators notified, the DR restore
//! started, the audit written, the database ready. The proxy's counts then prove that
//! nothing called primary's region while it was down. Optionally the region comes back and
//! the checker probes it healthy, failback's first precondition; the failback itself is an
//! operator's (`drctl reconcile --direction dr-to-primary --apply`, `drctl failback`).
//!
//! Nothing here decides anything: it plays the schedule and the outage and reports what
//! the checker did and when.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dr_core::Topology;
use serde_json::{json, Value};

use crate::fault_proxy::control::{ControlError, ProxyClient};
use crate::fault_proxy::{Counts, OutageMode, OutageScope, RegionCounts};
use crate::fleet::LambdaPaths;
use crate::iot_endpoint::{EndpointError, LocalIotEndpoint, SERVER_NAME};
use crate::local_lambda::{LocalFunction, LocalLambdaError};

/// What to play.
#[derive(Debug, Clone)]
pub struct OutagePlan {
    /// The checker's topology (its probes are replaced by one of the stand-in). Its
    /// sandbox endpoint must be a proxy of this sandbox: the outage is played there.
    pub topology: Topology,
    /// How primary's region fails: `Hang` or `Refuse` (`Slow` is no outage).
    pub mode: OutageMode,
    /// Route 53's control plane fails too (it lives in us-east-1).
    pub route53_down: bool,
    /// Healthy rounds before the outage.
    pub healthy_rounds: usize,
    /// Give up when the checker has not finished failing over after this many rounds.
    pub max_outage_rounds: usize,
    /// After the failover the region comes back and the checker probes it this many
    /// rounds. 0: the outage stays in force when this returns.
    pub recovery_rounds: usize,
    /// Pause between invocations (the schedule, sped up).
    pub pause: Duration,
    /// Where the stand-in's CA and the checker's configuration are written.
    pub work_dir: PathBuf,
}

/// One round as the checker answered it.
#[derive(Debug, Clone)]
pub struct RoundSeen {
    /// 1-based, counting every round played.
    pub number: usize,
    /// Where the round fell.
    pub phase: Phase,
    /// The checker's summary of the round (`down`, `mode`, `decision` — stay, held,
    /// dwelling or fail-over — with its `reason`, `steps`, `runbook_pending`, `finished`;
    /// or `error`).
    pub answer: Value,
}

/// Before, during or after the outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Primary serves.
    Healthy,
    /// Primary's region is down.
    Outage,
    /// The region is back; DR still serves until an operator fails back.
    Recovered,
}

/// What happened, measured.
#[derive(Debug)]
pub struct OutageReport {
    /// Every round.
    pub rounds: Vec<RoundSeen>,
    /// When the outage began (for a caller measuring what follows, e.g. DNS).
    pub began: Instant,
    /// Outage rounds until the checker decided to fail over (1-based).
    pub decided_in_round: usize,
    /// From the outage's start to the round that decided.
    pub to_decision: Duration,
    /// From the outage's start to the runbook finished (traffic flipped, restore done).
    pub to_failed_over: Duration,
    /// The finished runbook's notes (restores, notifications).
    pub runbook_notes: String,
    /// What reached primary's region through the proxy while it was down (must be none).
    pub primary_calls: RegionCounts,
    /// What reached Route 53's control plane meanwhile (off the failover path only: the
    /// checker's background check of its setup, which the outage swallows).
    pub route53_calls: RegionCounts,
}

/// Why the game day could not be played, or the checker did not fail over as it must.
#[derive(Debug, thiserror::Error)]
pub enum OutageError {
    /// The stand-in endpoint.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The checker could not run.
    #[error(transparent)]
    Lambda(#[from] LocalLambdaError),
    /// The proxy's control API.
    #[error("the sandbox proxy at {endpoint}: {error}")]
    Proxy {
        /// The proxy.
        endpoint: String,
        /// What it said.
        error: ControlError,
    },
    /// The topology has no sandbox endpoint, or the mode is no outage.
    #[error("{0}")]
    Plan(String),
    /// The configuration could not be written.
    #[error("health-checker configuration {path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The checker answered something other than its round summary.
    #[error("health-checker answered {0}")]
    Answer(Value),
    /// The checker saw rounds down while the stand-in answered.
    #[error("round {0} was down while primary was healthy: {1}")]
    DownWhileHealthy(usize, Value),
    /// No finished failover within the plan's rounds.
    #[error("no finished failover after {0} rounds of outage (is automatic failover held? A first deploy is, until `drctl release`; see `drctl status`)")]
    NoFailover(usize),
    /// Something on the failover path called primary's region while it was down.
    #[error("{} calls reached primary's region ({region}) during the outage: the failover path must call DR only", .counts.attempted)]
    CalledPrimary {
        /// The region.
        region: String,
        /// What the proxy counted.
        counts: RegionCounts,
    },
}

/// Play the game day.
pub async fn simulate_outage(
    paths: &LambdaPaths,
    plan: &OutagePlan,
    mut on_round: impl FnMut(&RoundSeen),
) -> Result<OutageReport, OutageError> {
    if matches!(plan.mode, OutageMode::Slow { .. }) {
        return Err(OutageError::Plan(
            "a slow region still answers: play `hang` or `refuse`".to_owned(),
        ));
    }
    let endpoint_url = plan
        .topology
        .sandbox
        .as_ref()
        .map(|s| s.endpoint.to_string())
        .ok_or_else(|| OutageError::Plan("the topology has no [sandbox] endpoint".to_owned()))?;
    let proxy = ProxyClient::new(&endpoint_url);
    let control = |error| OutageError::Proxy {
        endpoint: endpoint_url.clone(),
        error,
    };
    let primary_region = plan.topology.primary.region.to_string();
    let mut scopes = vec![OutageScope::Region {
        region: primary_region.clone(),
    }];
    if plan.route53_down {
        scopes.push(OutageScope::Route53);
    }

    let mut endpoint = LocalIotEndpoint::start(&plan.work_dir, 0, None).await?;
    let config = write_checker_config(plan, &endpoint)?;
    let checker = Checker::start(paths, plan, &config).await?;
    let mut rounds = Vec::new();
    let mut number = 0;
    for _ in 0..plan.healthy_rounds {
        number += 1;
        let seen = checker.round(number, Phase::Healthy).await?;
        on_round(&seen);
        if seen.answer["down"] == true {
            return Err(OutageError::DownWhileHealthy(number, seen.answer));
        }
        rounds.push(seen);
        tokio::time::sleep(plan.pause).await;
    }
    // A Lambda that timed out mid-outage gets a new execution environment: cold start.
    drop(checker);

    let before = proxy.counts().await.map_err(control)?;
    for scope in &scopes {
        proxy
            .set_outage(scope.clone(), Some(plan.mode))
            .await
            .map_err(control)?;
    }
    match plan.mode {
        OutageMode::Hang => endpoint.hang().await?,
        _ => endpoint.stop().await,
    }
    let began = Instant::now();
    let played = play_outage(paths, plan, &config, &mut number, began, &mut on_round).await;
    // Count before ending the outage: what reached the region while it was down.
    let during = proxy.counts().await.map_err(control);
    let finished = match played {
        Ok(finished) => finished,
        Err(error) => {
            end_outage(&proxy, &scopes).await;
            return Err(error);
        }
    };
    let during = match during {
        Ok(during) => during,
        Err(error) => {
            end_outage(&proxy, &scopes).await;
            return Err(error);
        }
    };
    let primary_calls = delta(&before, &during, &primary_region);
    let route53_calls = delta(&before, &during, "route53");
    let (mut outage_rounds, decided_in_round, to_decision, to_failed_over, runbook_notes) =
        finished;
    rounds.append(&mut outage_rounds);
    if primary_calls.attempted > 0 {
        end_outage(&proxy, &scopes).await;
        return Err(OutageError::CalledPrimary {
            region: primary_region,
            counts: primary_calls,
        });
    }

    if plan.recovery_rounds > 0 {
        end_outage(&proxy, &scopes).await;
        endpoint.resume().await?;
        let checker = Checker::start(paths, plan, &config).await?;
        for _ in 0..plan.recovery_rounds {
            tokio::time::sleep(plan.pause).await;
            number += 1;
            let seen = checker.round(number, Phase::Recovered).await?;
            on_round(&seen);
            if seen.answer["down"] == true {
                return Err(OutageError::DownWhileHealthy(number, seen.answer));
            }
            rounds.push(seen);
        }
    }
    Ok(OutageReport {
        rounds,
        began,
        decided_in_round,
        to_decision,
        to_failed_over,
        runbook_notes,
        primary_calls,
        route53_calls,
    })
}

/// What the outage rounds found: the rounds, the deciding round, time to decision and to
/// the finished runbook, and its notes.
type Played = (Vec<RoundSeen>, usize, Duration, Duration, String);

/// Invoke a freshly started checker until its failover runbook has finished.
async fn play_outage(
    paths: &LambdaPaths,
    plan: &OutagePlan,
    config: &std::path::Path,
    number: &mut usize,
    began: Instant,
    on_round: &mut impl FnMut(&RoundSeen),
) -> Result<Played, OutageError> {
    let checker = Checker::start(paths, plan, config).await?;
    let mut rounds = Vec::new();
    let mut decided: Option<(usize, Duration)> = None;
    for outage_round in 1..=plan.max_outage_rounds {
        *number += 1;
        let seen = checker.round(*number, Phase::Outage).await?;
        on_round(&seen);
        if decided.is_none() && seen.answer["decision"] == "fail-over" {
            decided = Some((outage_round, began.elapsed()));
        }
        let finished = seen.answer["finished"]["kind"] == "Failover";
        let notes = seen.answer["finished"]["notes"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        rounds.push(seen);
        if let (true, Some((round, to_decision))) = (finished, decided) {
            return Ok((rounds, round, to_decision, began.elapsed(), notes));
        }
        tokio::time::sleep(plan.pause).await;
    }
    Err(OutageError::NoFailover(plan.max_outage_rounds))
}

/// Best effort: the caller is already failing, or the game day is over.
async fn end_outage(proxy: &ProxyClient, scopes: &[OutageScope]) {
    for scope in scopes {
        if let Err(error) = proxy.set_outage(scope.clone(), None).await {
            tracing::warn!(%error, %scope, "the outage could not be ended");
        }
    }
}

fn delta(before: &Counts, after: &Counts, region: &str) -> RegionCounts {
    let (b, a) = (before.region(region), after.region(region));
    RegionCounts {
        attempted: a.attempted.saturating_sub(b.attempted),
        swallowed: a.swallowed.saturating_sub(b.swallowed),
        slowed: a.slowed.saturating_sub(b.slowed),
    }
}

/// The health checker, one round per invocation: the caller's loop is the schedule.
struct Checker(LocalFunction);

impl Checker {
    async fn start(
        paths: &LambdaPaths,
        plan: &OutagePlan,
        config: &std::path::Path,
    ) -> Result<Self, OutageError> {
        let env = [
            ("DRCTL_CONFIG".to_owned(), config.display().to_string()),
            (
                "DRCTL__FAILOVER__ROUNDS_PER_INVOCATION".to_owned(),
                "1".to_owned(),
            ),
            (
                "DRCTL__FAILOVER__ROUND_INTERVAL_SECONDS".to_owned(),
                "0".to_owned(),
            ),
        ];
        Ok(Self(
            paths.start("health-checker", &plan.topology, &env).await?,
        ))
    }

    async fn round(&self, number: usize, phase: Phase) -> Result<RoundSeen, OutageError> {
        let scheduled =
            json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
        let answer = self.0.invoke(&scheduled).await?;
        let round = answer["rounds"]
            .as_array()
            .and_then(|r| r.first())
            .cloned()
            .ok_or_else(|| OutageError::Answer(answer.clone()))?;
        Ok(RoundSeen {
            number,
            phase,
            answer: round,
        })
    }
}

/// The plan's topology with one probe: a TLS handshake (ALPN `x-amzn-mqtt-ca`, as devices
/// on 443 use) with the stand-in. Probes are a list, which only a config file can carry.
fn write_checker_config(
    plan: &OutagePlan,
    endpoint: &LocalIotEndpoint,
) -> Result<PathBuf, OutageError> {
    let path = plan.work_dir.join("health-checker.toml");
    let failed = |reason: String| OutageError::Config {
        path: path.clone(),
        reason,
    };
    let mut topology = plan.topology.clone();
    topology.failover.probes = vec![dr_core::ProbeConfig::Tls {
        host: "127.0.0.1".into(),
        port: endpoint.port,
        server_name: Some(SERVER_NAME.into()),
        alpn: Some("x-amzn-mqtt-ca".into()),
        ca_file: Some(endpoint.ca_file.clone()),
        timeout_ms: 2_000,
    }];
    // The checker's identity comes from its environment (the Lambda's role), not the file.
    if let Some(sandbox) = topology.sandbox.as_mut() {
        sandbox.principal = dr_core::config::SandboxPrincipal::default();
    }
    let text = toml::to_string(&topology).map_err(|e| failed(e.to_string()))?;
    std::fs::create_dir_all(&plan.work_dir).map_err(|e| failed(e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| failed(e.to_string()))?;
    Ok(path)
}
