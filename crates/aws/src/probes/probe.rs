//! One configured probe: built from its `[[failover.probes]]` entry (or `[drill.canary]`),
//! named in outcomes, and run once within its timeout by the check of its kind.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dr_core::failover::ProbeOutcome;
use dr_core::{ProbeConfig, Side, Topology};

use super::alarm::alarms_ok;
use super::https::{https_get, parse_https_url};
use super::mqtt::mqtt_connect;
use super::tls::{client_identity, tls_handshake, tls_target, TlsTargetHandle};

/// Why a probe could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
#[error("{field} ({kind}): {message}")]
pub struct ProbeConfigError {
    /// The config field, e.g. `failover.probes[1]` or `drill.canary`.
    pub(super) field: String,
    pub(super) kind: &'static str,
    pub(super) message: String,
}

/// One configured probe.
#[derive(Debug, Clone)]
pub enum Probe {
    /// TLS handshake.
    Tls {
        /// Where.
        target: Arc<TlsTargetHandle>,
        /// Give up after.
        timeout: Duration,
    },
    /// TLS with a canary certificate, then MQTT CONNECT → CONNACK.
    Mqtt {
        /// Where.
        target: Arc<TlsTargetHandle>,
        /// The canary's client id.
        client_id: String,
        /// Give up after.
        timeout: Duration,
    },
    /// HTTPS GET, 2xx expected.
    Https {
        /// Where.
        target: Arc<TlsTargetHandle>,
        /// The request path.
        path: String,
        /// Give up after.
        timeout: Duration,
    },
    /// CloudWatch alarms (metric or composite) in primary: healthy only when every one is
    /// found and OK.
    Alarm {
        /// CloudWatch in primary.
        client: aws_sdk_cloudwatch::Client,
        /// The alarms.
        alarm_names: Vec<String>,
        /// Give up after.
        timeout: Duration,
    },
}

impl Probe {
    /// Every probe the topology configures. The alarm probe reads CloudWatch in primary
    /// through `session`.
    pub fn all(
        topology: &Topology,
        session: &crate::AwsSession,
    ) -> Result<Vec<Probe>, ProbeConfigError> {
        topology
            .failover
            .probes
            .iter()
            .enumerate()
            .map(|(index, config)| {
                Probe::build(format!("failover.probes[{index}]"), config, session)
            })
            .collect()
    }

    /// The drill's canary device (`[drill.canary]`), when one is configured: a probe of
    /// DR's endpoint that connects as a device.
    pub fn drill_canary(
        topology: &Topology,
        session: &crate::AwsSession,
    ) -> Option<Result<Probe, ProbeConfigError>> {
        let config = topology.drill.canary.as_ref()?;
        Some(Probe::build("drill.canary".to_owned(), config, session))
    }

    fn build(
        field: String,
        config: &ProbeConfig,
        session: &crate::AwsSession,
    ) -> Result<Probe, ProbeConfigError> {
        let ms = Duration::from_millis;
        let error = |kind: &'static str| {
            let field = field.clone();
            move |message: String| ProbeConfigError {
                field,
                kind,
                message,
            }
        };
        Ok(match config {
            ProbeConfig::Tls {
                host,
                port,
                server_name,
                alpn,
                ca_file,
                timeout_ms,
            } => Probe::Tls {
                target: tls_target(
                    host,
                    *port,
                    server_name.as_deref(),
                    alpn.as_deref(),
                    ca_file.as_deref(),
                    None,
                )
                .map_err(error("tls"))?,
                timeout: ms(*timeout_ms),
            },
            ProbeConfig::Mqtt {
                host,
                port,
                server_name,
                alpn,
                ca_file,
                client_cert_file,
                client_key_file,
                client_id,
                timeout_ms,
            } => {
                let identity =
                    client_identity(client_cert_file, client_key_file).map_err(error("mqtt"))?;
                Probe::Mqtt {
                    target: tls_target(
                        host,
                        *port,
                        server_name.as_deref(),
                        alpn.as_deref(),
                        ca_file.as_deref(),
                        Some(identity),
                    )
                    .map_err(error("mqtt"))?,
                    client_id: client_id.clone(),
                    timeout: ms(*timeout_ms),
                }
            }
            ProbeConfig::Https {
                url,
                server_name,
                ca_file,
                timeout_ms,
            } => {
                let (host, port, path) = parse_https_url(url).map_err(error("https"))?;
                Probe::Https {
                    target: tls_target(
                        &host,
                        port,
                        server_name.as_deref(),
                        Some("http/1.1"),
                        ca_file.as_deref(),
                        None,
                    )
                    .map_err(error("https"))?,
                    path,
                    timeout: ms(*timeout_ms),
                }
            }
            ProbeConfig::Alarm {
                alarm_names,
                timeout_ms,
            } => {
                if alarm_names.is_empty() {
                    return Err(error("alarm")("alarm_names is empty".to_owned()));
                }
                Probe::Alarm {
                    client: session.cloudwatch(Side::Primary),
                    alarm_names: alarm_names.clone(),
                    timeout: ms(*timeout_ms),
                }
            }
        })
    }

    /// The probe's name in outcomes.
    pub fn name(&self) -> String {
        match self {
            Probe::Tls { target, .. } => format!("tls {}:{}", target.0.host, target.0.port),
            Probe::Mqtt { target, .. } => format!("mqtt {}:{}", target.0.host, target.0.port),
            Probe::Https { target, path, .. } => {
                format!("https {}:{}{path}", target.0.host, target.0.port)
            }
            Probe::Alarm { alarm_names, .. } => format!("alarms {}", alarm_names.join(",")),
        }
    }

    fn timeout(&self) -> Duration {
        match self {
            Probe::Tls { timeout, .. }
            | Probe::Mqtt { timeout, .. }
            | Probe::Https { timeout, .. }
            | Probe::Alarm { timeout, .. } => *timeout,
        }
    }

    /// Look at primary once, within the probe's timeout.
    pub async fn check(&self) -> ProbeOutcome {
        let started = Instant::now();
        let result = match tokio::time::timeout(self.timeout(), self.look()).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "no answer within {} ms",
                self.timeout().as_millis()
            )),
        };
        let (healthy, reason) = match result {
            Ok(seen) => (true, seen),
            Err(why) => (false, why),
        };
        ProbeOutcome {
            probe: self.name(),
            healthy,
            latency_ms: started.elapsed().as_millis() as u64,
            reason,
        }
    }

    async fn look(&self) -> Result<String, String> {
        match self {
            Probe::Tls { target, .. } => tls_handshake(&target.0).await,
            Probe::Mqtt {
                target, client_id, ..
            } => {
                let mut stream = target.0.connect().await?;
                mqtt_connect(&mut stream, client_id).await
            }
            Probe::Https { target, path, .. } => {
                let mut stream = target.0.connect().await?;
                https_get(&mut stream, &target.0.name, path).await
            }
            Probe::Alarm {
                client,
                alarm_names,
                ..
            } => alarms_ok(client, alarm_names).await,
        }
    }
}
