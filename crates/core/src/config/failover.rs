//! `[failover]`: flow D's resources in the DR account, its thresholds and its probes.

use serde::{Deserialize, Serialize};

use super::{name, optional_count, FieldError};
use crate::ids::ResourceName;

/// Flow D: the health checker's resources in the DR account, thresholds and probes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailoverConfig {
    /// The DynamoDB table holding the health checker's state and audit records.
    pub state_table: ResourceName,
    /// The SNS topic operators subscribe to.
    pub operator_topic: ResourceName,
    /// How traffic moves: Route 53 failover records driven by a metric (no control-plane
    /// call at failover), or a direct record UPSERT.
    pub flip: FlipMode,
    /// Seconds between probe rounds.
    pub round_interval_seconds: u64,
    /// Rounds per health-checker invocation (a one-minute schedule: 6 rounds of 10 s).
    pub rounds_per_invocation: u32,
    /// Consecutive down rounds before failing over.
    pub failure_threshold: u32,
    /// Consecutive up rounds before a degraded primary is healthy again.
    pub recovery_threshold: u32,
    /// Failed probes that make a round down; unset: all of them.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_count"
    )]
    pub quorum: Option<u64>,
    /// No automatic failover within this long after the last flip.
    pub min_dwell_seconds: u64,
    /// Failback needs primary healthy for this long.
    pub failback_after_healthy_seconds: u64,
    /// Data-plane failback keeps publishing "primary serves" this long before it sets the
    /// alarm OK, so the alarm's next evaluation finds no DR datapoint left in its period
    /// (60 s) and does not send traffic back to DR.
    pub failback_settle_seconds: u64,
    /// The probes of primary.
    pub probes: Vec<ProbeConfig>,
    /// The SSM parameter path in DR under which a failover writes where each restored
    /// database answers (`<path>/<identifier>`): what the application in DR reads to find
    /// it. DR's data plane, written when the database is ready.
    pub database_parameter_path: String,
    /// How long a failover waits for its restored databases before its notes, `drctl
    /// status` and a page say OVERDUE (it keeps waiting: RDS may still deliver).
    pub database_ready_timeout_seconds: u64,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        Self {
            state_table: name("dr-failover-state"),
            operator_topic: name("dr-operators"),
            flip: FlipMode::DataPlane,
            round_interval_seconds: 10,
            rounds_per_invocation: 6,
            failure_threshold: 3,
            recovery_threshold: 3,
            quorum: None,
            min_dwell_seconds: 600,
            failback_after_healthy_seconds: 900,
            failback_settle_seconds: 70,
            probes: Vec::new(),
            database_parameter_path: "/iot-dr/databases".to_owned(),
            // RDS restores take minutes for small databases, an hour or more for large
            // ones: past an hour, someone should look.
            database_ready_timeout_seconds: 3600,
        }
    }
}

impl FailoverConfig {
    /// The state machine's settings.
    pub fn settings(&self) -> crate::failover::Settings {
        crate::failover::Settings {
            failure_threshold: self.failure_threshold,
            recovery_threshold: self.recovery_threshold,
            quorum: self.quorum.map(|q| q as u32),
            min_dwell_ms: self.min_dwell_seconds as i64 * 1000,
            failback_after_healthy_ms: self.failback_after_healthy_seconds as i64 * 1000,
            // Three rounds, and at least the one-minute schedule plus slack.
            max_round_age_ms: (self.round_interval_seconds as i64 * 3_000).max(90_000),
        }
    }
}

/// How failover moves traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlipMode {
    /// Route 53 failover records; PRIMARY's health check follows a CloudWatch alarm in the
    /// DR region that the checker drives with PutMetricData (data-plane calls only).
    DataPlane,
    /// ChangeResourceRecordSets UPSERT of the record, then wait for INSYNC.
    DnsApi,
}

/// One probe of primary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ProbeConfig {
    /// A TLS handshake with the IoT data endpoint (or custom domain).
    Tls {
        /// Where to connect.
        host: String,
        /// 8883 (MQTT over TLS) or 443 (with ALPN `x-amzn-mqtt-ca`).
        port: u16,
        /// SNI and the name the certificate must carry; default `host`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server_name: Option<String>,
        /// ALPN protocol, e.g. `x-amzn-mqtt-ca` on 443.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alpn: Option<String>,
        /// PEM bundle of trusted roots; default the system's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_file: Option<std::path::PathBuf>,
        /// Give up after this long.
        #[serde(default = "default_probe_timeout")]
        timeout_ms: u64,
    },
    /// A TLS handshake with a canary device's certificate, then MQTT CONNECT → CONNACK.
    Mqtt {
        /// Where to connect.
        host: String,
        /// 8883, or 443 with ALPN.
        port: u16,
        /// SNI; default `host`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server_name: Option<String>,
        /// ALPN protocol, e.g. `x-amzn-mqtt-ca` on 443.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alpn: Option<String>,
        /// PEM bundle of trusted roots; default the system's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_file: Option<std::path::PathBuf>,
        /// The canary's certificate (PEM). A canary, not a patient's device.
        client_cert_file: std::path::PathBuf,
        /// The canary's private key (PEM); it stays on the checker.
        client_key_file: std::path::PathBuf,
        /// The MQTT client id the canary's policy allows.
        client_id: String,
        /// Give up after this long.
        #[serde(default = "default_probe_timeout")]
        timeout_ms: u64,
    },
    /// An HTTPS GET that must answer 2xx.
    Https {
        /// `https://host[:port]/path`.
        url: String,
        /// SNI and the name the certificate must carry; default the URL's host.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server_name: Option<String>,
        /// PEM bundle of trusted roots; default the system's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_file: Option<std::path::PathBuf>,
        /// Give up after this long.
        #[serde(default = "default_probe_timeout")]
        timeout_ms: u64,
    },
    /// CloudWatch alarms in primary: healthy only when every one exists and is OK (ALARM,
    /// INSUFFICIENT_DATA and a missing alarm fail it; give alarms meant for this probe
    /// `treat_missing_data = notBreaching` where no data means nothing wrong).
    Alarm {
        /// The alarms' names.
        alarm_names: Vec<String>,
        /// Give up after this long.
        #[serde(default = "default_probe_timeout")]
        timeout_ms: u64,
    },
}

fn default_probe_timeout() -> u64 {
    3_000
}

impl ProbeConfig {
    /// The name the probe connects to (not its SNI, which resolves nothing), if any.
    fn connects_to(&self) -> Option<&str> {
        match self {
            ProbeConfig::Tls { host, .. } | ProbeConfig::Mqtt { host, .. } => Some(host),
            ProbeConfig::Https { url, .. } => {
                let rest = url.strip_prefix("https://").unwrap_or(url);
                rest.split(['/', ':', '?']).next()
            }
            ProbeConfig::Alarm { .. } => None,
        }
    }
}

impl FailoverConfig {
    /// No probe may reach primary through `flipped`, the name the switch points at DR: after
    /// a failover such a probe would be probing DR, and DR answering would read as "primary
    /// is healthy again" and approve failback. Probes go to primary's own endpoint.
    pub(super) fn check_probes_bypass(&self, flipped: &str) -> Result<(), FieldError> {
        let same = |a: &str, b: &str| {
            a.trim_end_matches('.')
                .eq_ignore_ascii_case(b.trim_end_matches('.'))
        };
        for (n, probe) in self.probes.iter().enumerate() {
            if let Some(host) = probe.connects_to().filter(|host| same(host, flipped)) {
                return Err(FieldError::new(
                    format!("failover.probes[{n}]"),
                    format!(
                        "connects to {host}, the name the failover switch flips: after a \
                         failover it leads to DR, and DR answering would read as primary \
                         healthy; probe primary's own endpoint (its ATS data endpoint) instead"
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn check(&self) -> Result<(), FieldError> {
        if self.database_ready_timeout_seconds == 0 {
            return Err(FieldError::new(
                "failover.database_ready_timeout_seconds",
                "must be at least 1: every failover would be OVERDUE at once",
            ));
        }
        for (field, value) in [
            ("failover.failure_threshold", self.failure_threshold),
            ("failover.recovery_threshold", self.recovery_threshold),
            ("failover.rounds_per_invocation", self.rounds_per_invocation),
        ] {
            if value == 0 {
                return Err(FieldError::new(field, "must be at least 1"));
            }
        }
        check_parameter_path(&self.database_parameter_path)?;
        if let Some(quorum) = self.quorum {
            if quorum == 0 || (!self.probes.is_empty() && quorum as usize > self.probes.len()) {
                return Err(FieldError::new(
                    "failover.quorum",
                    format!(
                        "must be 1 to the number of probes ({}), or unset for all of them",
                        self.probes.len()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// An SSM parameter path we may write under: `/seg/seg…`, SSM's characters, not AWS's own
/// `aws`/`ssm` prefixes, short enough to leave room for a database identifier.
fn check_parameter_path(path: &str) -> Result<(), FieldError> {
    const FIELD: &str = "failover.database_parameter_path";
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or("").split('/').collect();
    let shaped = path.starts_with('/')
        && path.len() <= 900
        && segments.iter().all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        });
    if !shaped {
        return Err(FieldError::new(
            FIELD,
            format!("{path:?}: expected a path like /iot-dr/databases (letters, digits, `_.-`, segments separated by `/`, no trailing `/`)"),
        ));
    }
    let first = segments[0].to_ascii_lowercase();
    if first.starts_with("aws") || first.starts_with("ssm") {
        return Err(FieldError::new(
            FIELD,
            format!("{path:?}: SSM reserves paths beginning with aws or ssm"),
        ));
    }
    Ok(())
}
