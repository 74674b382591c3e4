//! Probes of primary, as configured in `[[failover.probes]]`: a TLS handshake with SNI
//! (and ALPN `x-amzn-mqtt-ca` on 443), an MQTT CONNECT with a canary certificate, an HTTPS
//! GET, and CloudWatch alarm states in primary. Each probe has its own timeout and reports
//! its latency and a reason; a round runs them all at once, so an outage costs one timeout,
//! not the sum of them.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use dr_core::failover::{ProbeOutcome, Prober, Round};
use dr_core::{ProbeConfig, Side, Topology};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Why a probe could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
#[error("{field} ({kind}): {message}")]
pub struct ProbeConfigError {
    /// The config field, e.g. `failover.probes[1]` or `drill.canary`.
    field: String,
    kind: &'static str,
    message: String,
}

/// Where and how to open a TLS connection.
#[derive(Clone)]
struct TlsTarget {
    host: String,
    port: u16,
    /// The name the peer must prove (SNI, certificate, HTTP Host).
    name: String,
    server_name: ServerName<'static>,
    connector: TlsConnector,
}

impl std::fmt::Debug for TlsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsTarget {
    async fn connect(&self) -> Result<TlsStream<TcpStream>, String> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("TCP connect to {}:{}: {e}", self.host, self.port))?;
        self.connector
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))
    }
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

/// A TLS target, opaque outside this module.
#[derive(Debug)]
pub struct TlsTargetHandle(TlsTarget);

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

fn tls_target(
    host: &str,
    port: u16,
    server_name: Option<&str>,
    alpn: Option<&str>,
    ca_file: Option<&Path>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<Arc<TlsTargetHandle>, String> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("ca_file {}: {e}", path.display()))?
            {
                let cert = cert.map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    if roots.is_empty() {
        return Err("no trusted root certificates (set ca_file)".to_owned());
    }
    let builder = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots);
    let mut config = match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("client certificate: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    if let Some(alpn) = alpn {
        config.alpn_protocols = vec![alpn.as_bytes().to_vec()];
    }
    let name = server_name.unwrap_or(host).to_owned();
    let server_name =
        ServerName::try_from(name.clone()).map_err(|e| format!("server name {name}: {e}"))?;
    Ok(Arc::new(TlsTargetHandle(TlsTarget {
        host: host.to_owned(),
        port,
        name,
        server_name,
        connector: TlsConnector::from(Arc::new(config)),
    })))
}

fn client_identity(
    cert_file: &Path,
    key_file: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let chain = CertificateDer::pem_file_iter(cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("client_cert_file {}: {e}", cert_file.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "client_cert_file {} holds no certificate",
            cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("client_key_file {}: {e}", key_file.display()))?;
    Ok((chain, key))
}

/// A TLS handshake alone: the protocol version and ALPN the peer agreed to.
async fn tls_handshake(target: &TlsTarget) -> Result<String, String> {
    let stream = target.connect().await?;
    let (_, session) = stream.get_ref();
    let alpn = session
        .alpn_protocol()
        .map(|p| format!(", ALPN {}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    Ok(format!(
        "handshake ok ({:?}{alpn})",
        session
            .protocol_version()
            .unwrap_or(rustls::ProtocolVersion::Unknown(0))
    ))
}

/// Every alarm in `alarm_names` found in primary and OK.
async fn alarms_ok(
    client: &aws_sdk_cloudwatch::Client,
    alarm_names: &[String],
) -> Result<String, String> {
    let output = client
        .describe_alarms()
        .set_alarm_names(Some(alarm_names.to_vec()))
        .alarm_types(AlarmType::MetricAlarm)
        .alarm_types(AlarmType::CompositeAlarm)
        .send()
        .await
        .map_err(|e| {
            format!(
                "CloudWatch in primary: {}",
                crate::error::port_error("DescribeAlarms", e)
            )
        })?;
    let states: Vec<(&str, Option<&StateValue>)> = output
        .metric_alarms()
        .iter()
        .map(|a| (a.alarm_name().unwrap_or_default(), a.state_value()))
        .chain(
            output
                .composite_alarms()
                .iter()
                .map(|a| (a.alarm_name().unwrap_or_default(), a.state_value())),
        )
        .collect();
    // A missing alarm vouches for nothing; neither does one without data (in a
    // regional outage primary's metrics stop and its alarms go there).
    let missing: Vec<_> = alarm_names
        .iter()
        .filter(|n| !states.iter().any(|(found, _)| found == n))
        .map(String::as_str)
        .collect();
    let not_ok: Vec<String> = states
        .iter()
        .filter(|(_, state)| *state != Some(&StateValue::Ok))
        .map(|(name, state)| format!("{name} {}", state.map_or("UNKNOWN", |s| s.as_str())))
        .collect();
    if !missing.is_empty() {
        Err(format!(
            "alarms not found in primary: {}",
            missing.join(", ")
        ))
    } else if !not_ok.is_empty() {
        Err(format!("not OK: {}", not_ok.join(", ")))
    } else {
        Ok(format!("{} alarms OK", states.len()))
    }
}

/// `https://host[:port][/path]` → (host, port, path).
fn parse_https_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| format!("{url:?} is not an https:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse()
                .map_err(|_| format!("{url:?} has a bad port"))?,
        ),
        None => (authority, 443),
    };
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    Ok((host.to_owned(), port, path))
}

/// MQTT 3.1.1 CONNECT (clean session) → CONNACK, then DISCONNECT.
async fn mqtt_connect(
    stream: &mut TlsStream<TcpStream>,
    client_id: &str,
) -> Result<String, String> {
    let id = client_id.as_bytes();
    let id_len = u16::try_from(id.len()).map_err(|_| "client id too long".to_owned())?;
    let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c];
    body.extend_from_slice(&id_len.to_be_bytes());
    body.extend_from_slice(id);
    let mut packet = vec![0x10];
    let mut remaining = body.len();
    loop {
        let mut byte = (remaining % 128) as u8;
        remaining /= 128;
        if remaining > 0 {
            byte |= 0x80;
        }
        packet.push(byte);
        if remaining == 0 {
            break;
        }
    }
    packet.extend_from_slice(&body);
    stream
        .write_all(&packet)
        .await
        .map_err(|e| format!("sending CONNECT: {e}"))?;
    let mut connack = [0u8; 4];
    stream
        .read_exact(&mut connack)
        .await
        .map_err(|e| format!("no CONNACK: {e}"))?;
    if connack[0] != 0x20 || connack[1] != 0x02 {
        return Err(format!("not a CONNACK: {connack:02x?}"));
    }
    let _ = stream.write_all(&[0xe0, 0x00]).await;
    match connack[3] {
        0 => Ok("CONNACK accepted".to_owned()),
        code => Err(format!("CONNACK refused with return code {code}")),
    }
}

/// GET `path`; 2xx is healthy.
async fn https_get(
    stream: &mut TlsStream<TcpStream>,
    host: &str,
    path: &str,
) -> Result<String, String> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: drctl-health-checker\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("sending the request: {e}"))?;
    let mut head = Vec::with_capacity(256);
    let mut buffer = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        let n = stream
            .read(&mut buffer)
            .await
            .map_err(|e| format!("reading the response: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..n]);
    }
    let status_line = String::from_utf8_lossy(&head);
    let status_line = status_line.lines().next().unwrap_or_default();
    let code: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {status_line:?}"))?;
    if (200..300).contains(&code) {
        Ok(format!("HTTP {code}"))
    } else {
        Err(format!("HTTP {code}"))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_https_url;

    #[test]
    fn https_urls_parse_into_host_port_and_path() {
        assert_eq!(
            parse_https_url("https://status.example.com/health").unwrap(),
            ("status.example.com".to_owned(), 443, "/health".to_owned())
        );
        assert_eq!(
            parse_https_url("https://127.0.0.1:8443").unwrap(),
            ("127.0.0.1".to_owned(), 8443, "/".to_owned())
        );
        assert!(parse_https_url("http://example.com").is_err());
        assert!(parse_https_url("https://:443/").is_err());
    }
}
