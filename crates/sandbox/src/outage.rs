//! A primary outage, watched by the real health-checker binary.
//!
//! A local stand-in for primary's IoT endpoint serves; the health checker (through the
//! Runtime API emulator, one round per invocation, as a fast schedule) probes it while it
//! is healthy, then the stand-in stops — the region's outage — and the checker is invoked
//! until its runbook has failed over: database restore started, traffic flipped, operators
//! notified, audit written. Nothing here decides anything; it only plays the schedule and
//! the outage and reports what the checker did and when.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fleet::LambdaPaths;
use crate::iot_endpoint::{EndpointError, LocalIotEndpoint, SERVER_NAME};
use crate::local_lambda::LocalLambdaError;

/// What to play.
#[derive(Debug, Clone)]
pub struct OutagePlan {
    /// Healthy rounds before the outage.
    pub healthy_rounds: usize,
    /// Give up when the checker has not failed over after this many rounds of outage.
    pub max_outage_rounds: usize,
    /// Pause between invocations (the schedule, sped up).
    pub pause: Duration,
    /// The topology file the checker's configuration starts from.
    pub base_config: PathBuf,
    /// Where the stand-in's CA and the checker's configuration are written.
    pub work_dir: PathBuf,
}

/// One round as the checker answered it.
#[derive(Debug, Clone)]
pub struct RoundSeen {
    /// 1-based, counting every round played.
    pub number: usize,
    /// Whether the outage had begun.
    pub during_outage: bool,
    /// The checker's summary of the round (`down`, `mode`, `decision` — stay, held,
    /// dwelling or fail-over — with its `reason`, `steps`, `runbook_pending`; or `error`).
    pub answer: Value,
}

/// What happened, measured.
#[derive(Debug)]
pub struct OutageReport {
    /// Every round.
    pub rounds: Vec<RoundSeen>,
    /// Outage rounds until the checker decided to fail over (1-based).
    pub decided_in_round: usize,
    /// From the stand-in stopping to the round that decided.
    pub to_decision: Duration,
    /// From the stand-in stopping to the runbook finished (DR serving).
    pub to_failed_over: Duration,
}

/// Why the outage could not be played, or the checker did not fail over.
#[derive(Debug, thiserror::Error)]
pub enum OutageError {
    /// The stand-in endpoint.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The checker could not run.
    #[error(transparent)]
    Lambda(#[from] LocalLambdaError),
    /// The configuration could not be read or written.
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
    /// The checker was healthy-probing a stand-in that answers, yet saw rounds down.
    #[error("round {0} was down before the outage: {1}")]
    DownBeforeOutage(usize, Value),
    /// No failover within the plan's rounds.
    #[error("no failover after {0} rounds of outage (is automatic failover held? `drctl status`)")]
    NoFailover(usize),
}

/// Play the outage.
pub async fn simulate_outage(
    paths: &LambdaPaths,
    plan: &OutagePlan,
    mut on_round: impl FnMut(&RoundSeen),
) -> Result<OutageReport, OutageError> {
    let mut endpoint = LocalIotEndpoint::start(&plan.work_dir, 0, None).await?;
    let config = write_checker_config(plan, &endpoint)?;
    let env = [
        ("DRCTL_CONFIG".to_owned(), config.display().to_string()),
        // One round per invocation: this loop is the schedule.
        (
            "DRCTL__FAILOVER__ROUNDS_PER_INVOCATION".to_owned(),
            "1".to_owned(),
        ),
        (
            "DRCTL__FAILOVER__ROUND_INTERVAL_SECONDS".to_owned(),
            "0".to_owned(),
        ),
    ];
    let topology = dr_core::Topology::load(&config).map_err(|e| OutageError::Config {
        path: config.clone(),
        reason: e.to_string(),
    })?;
    let checker = paths.start("health-checker", &topology, &env).await?;
    let scheduled = json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});

    let mut rounds = Vec::new();
    let mut outage_began: Option<Instant> = None;
    let mut decided: Option<(usize, Duration)> = None;
    for number in 1..=plan.healthy_rounds + plan.max_outage_rounds {
        if number == plan.healthy_rounds + 1 {
            endpoint.stop().await;
            outage_began = Some(Instant::now());
        }
        let answer = checker.invoke(&scheduled).await?;
        let round = answer["rounds"]
            .as_array()
            .and_then(|r| r.first())
            .cloned()
            .ok_or_else(|| OutageError::Answer(answer.clone()))?;
        let seen = RoundSeen {
            number,
            during_outage: outage_began.is_some(),
            answer: round,
        };
        on_round(&seen);
        if !seen.during_outage && seen.answer["down"] == true {
            return Err(OutageError::DownBeforeOutage(number, seen.answer));
        }
        if let Some(began) = outage_began {
            if decided.is_none() && seen.answer["decision"] == "fail-over" {
                decided = Some((number - plan.healthy_rounds, began.elapsed()));
            }
            let failed_over =
                seen.answer["mode"] == "failed-over" && seen.answer["runbook_pending"].is_null();
            if let (true, Some((decided_in_round, to_decision))) = (failed_over, decided) {
                rounds.push(seen);
                return Ok(OutageReport {
                    rounds,
                    decided_in_round,
                    to_decision,
                    to_failed_over: began.elapsed(),
                });
            }
        }
        rounds.push(seen);
        tokio::time::sleep(plan.pause).await;
    }
    Err(OutageError::NoFailover(plan.max_outage_rounds))
}

/// The base topology with one probe: a TLS handshake (ALPN `x-amzn-mqtt-ca`, as devices on
/// 443 use) with the stand-in. Probes are a list, which only a config file can carry.
fn write_checker_config(
    plan: &OutagePlan,
    endpoint: &LocalIotEndpoint,
) -> Result<PathBuf, OutageError> {
    let failed = |path: &Path, reason: String| OutageError::Config {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(&plan.base_config)
        .map_err(|e| failed(&plan.base_config, e.to_string()))?;
    let mut table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| failed(&plan.base_config, e.to_string()))?;
    let probe: toml::Table = toml::toml! {
        kind = "tls"
        host = "127.0.0.1"
        alpn = "x-amzn-mqtt-ca"
        timeout_ms = 2000
    };
    let mut probe = probe;
    probe.insert("port".into(), i64::from(endpoint.port).into());
    probe.insert("server_name".into(), SERVER_NAME.into());
    probe.insert(
        "ca_file".into(),
        endpoint.ca_file.display().to_string().into(),
    );
    let failover = table
        .entry("failover")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let Some(failover) = failover.as_table_mut() else {
        return Err(failed(
            &plan.base_config,
            "[failover] is not a table".to_owned(),
        ));
    };
    failover.insert(
        "probes".into(),
        toml::Value::Array(vec![toml::Value::Table(probe)]),
    );
    let path = plan.work_dir.join("health-checker.toml");
    let text = toml::to_string(&table).map_err(|e| failed(&path, e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| failed(&path, e.to_string()))?;
    Ok(path)
}
