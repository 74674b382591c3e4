//! The two-account topology: which account and region is primary, which is DR, how we reach
//! each (an IAM role to assume), and the names of the resources the flows share.
//!
//! Read once at start-up from a TOML file, with environment overrides, and parsed into
//! newtypes; every error names the offending field (`dr.account_id: …`) and what to write
//! instead. Unknown keys are errors too: a typo must not silently fall back to a default.
//!
//! Environment overrides use the prefix `DRCTL__` and `__` between levels, e.g.
//! `DRCTL__PRIMARY__ACCOUNT_ID=111111111111` or `DRCTL__SANDBOX__ENDPOINT=http://127.0.0.1:5757`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, DomainName, Endpoint, Region, ResourceName, RoleArn};

/// The prefix of environment variables that override the config file.
pub const ENV_PREFIX: &str = "DRCTL__";

/// One of the two sides of the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// The account and region that serve the fleet in normal operation.
    Primary,
    /// The standby account and region that take over when primary fails.
    Dr,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Primary => Side::Dr,
            Side::Dr => Side::Primary,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`, so `{:<7}` aligns tables.
        f.pad(match self {
            Side::Primary => "primary",
            Side::Dr => "dr",
        })
    }
}

/// Where one side lives and how the control plane reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SideConfig {
    /// The AWS account of this side.
    pub account_id: AccountId,
    /// The AWS region of this side.
    pub region: Region,
    /// The role the control plane assumes to act in this side's account. Always AssumeRole,
    /// never long-lived keys of the other account.
    pub role_arn: RoleArn,
}

/// Names of the certificate-replication resources (flow A), all owned by the DR account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationNames {
    /// The DR-owned SNS topic the primary capture Lambda publishes state messages to.
    pub topic: ResourceName,
    /// The SQS queue subscribed to the topic, feeding the replicator.
    pub queue: ResourceName,
    /// Where messages go after the maximum receive count, with their reason logged.
    pub dead_letter_queue: ResourceName,
    /// The DynamoDB table of applied versions per certificate (stale and duplicate filter).
    pub ledger_table: ResourceName,
    /// Certificate registrations per second one replicator instance makes in DR: the
    /// account's RegisterCertificate quota divided by the replicator's maximum concurrency.
    /// Pacing at the quota keeps it busy without throttling (backoff after throttling leaves
    /// the quota idle: 8.9/s of 10 measured, 10.0/s paced). Unset: not paced, throttling is
    /// retried with backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register_per_second: Option<f64>,
}

impl Default for ReplicationNames {
    fn default() -> Self {
        Self {
            topic: name("dr-cert-replication"),
            queue: name("dr-cert-replication"),
            dead_letter_queue: name("dr-cert-replication-dlq"),
            ledger_table: name("dr-cert-ledger"),
            register_per_second: None,
        }
    }
}

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

/// The DNS names devices use, and where they point (flow D).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// The Route 53 hosted zone (in the DR account).
    pub zone: DomainName,
    /// The custom domain devices connect to; flipped between primary and DR.
    pub record: DomainName,
    /// A record that drills flip, never touching production routing.
    pub drill_record: DomainName,
    /// What `record` points to while primary serves (primary's IoT domain endpoint).
    pub primary_target: DomainName,
    /// What `record` points to after failover (DR's IoT domain endpoint).
    pub dr_target: DomainName,
    /// Record TTL: the DNS part of the RTO.
    pub ttl_seconds: u32,
}

impl Default for DnsConfig {
    fn default() -> Self {
        let parse = |s: &str| s.parse().expect("default DNS names are valid");
        Self {
            zone: parse("example.com"),
            record: parse("iot.example.com"),
            drill_record: parse("drill.iot.example.com"),
            primary_target: parse("primary.iot.example.com"),
            dr_target: parse("dr.iot.example.com"),
            ttl_seconds: 30,
        }
    }
}

/// What `drctl drill` checks beyond the database, the registries and the drill record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrillConfig {
    /// A canary device that connects to DR's endpoint (`kind = "mqtt"`): proves its
    /// certificate reached DR and DR's endpoint lets a device in. Unset: the drill reports
    /// the check as skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<ProbeConfig>,
}

/// Flow C: which databases are protected, how often, how long snapshots are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotConfig {
    /// Primary's customer-managed KMS key *in the DR region* (alias or ARN): the regional copy
    /// is re-encrypted with it and the key policy lets the DR account use it.
    pub regional_kms_key: String,
    /// DR's own customer-managed key (alias or ARN) for DR's copy.
    pub dr_kms_key: String,
    /// Default interval between snapshots, in minutes.
    pub interval_minutes: u32,
    /// Default number of managed snapshots kept on each side.
    pub keep: usize,
    /// Default maximum age of managed snapshots, in hours.
    pub max_age_hours: u32,
    /// The protected databases.
    pub databases: Vec<DatabaseConfig>,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        Self {
            regional_kms_key: "alias/dr-snapshots".to_owned(),
            dr_kms_key: "alias/dr-snapshots".to_owned(),
            interval_minutes: 240,
            keep: 7,
            max_age_hours: 168,
            databases: Vec::new(),
        }
    }
}

/// One protected database; unset values take the [`SnapshotConfig`] defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// The DB instance or cluster identifier in primary.
    pub identifier: ResourceName,
    /// Instance or Aurora cluster.
    pub kind: crate::snapshots::DatabaseKind,
    /// Minutes between snapshots.
    #[serde(default)]
    pub interval_minutes: Option<u32>,
    /// Managed snapshots kept on each side.
    #[serde(default)]
    pub keep: Option<usize>,
    /// Maximum age in hours.
    #[serde(default)]
    pub max_age_hours: Option<u32>,
    /// Restores in DR go into this DB subnet group: the application's VPC there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_group: Option<ResourceName>,
    /// …with these VPC security groups (ids, `sg-…`); none: the VPC's default group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_group_ids: Vec<String>,
    /// DB parameter group in DR (an instance, or a cluster's instances).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_group: Option<ResourceName>,
    /// DB cluster parameter group in DR (Aurora).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_parameter_group: Option<ResourceName>,
    /// Option group in DR (instances).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option_group: Option<ResourceName>,
    /// Instance class of the restored instance (or of each Aurora instance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_class: Option<String>,
    /// Multi-AZ (instances).
    #[serde(default)]
    pub multi_az: bool,
    /// Deletion protection on the restored database (a patient database: on by default).
    #[serde(default = "yes")]
    pub deletion_protection: bool,
    /// Aurora: DB instances the restored cluster gets (at least 1).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_count"
    )]
    pub instances: Option<u64>,
    /// RDS cross-Region automated backup replication into the DR region (instances only):
    /// a second restore source, point in time with an RPO of minutes, beside the snapshot
    /// copies (which alone survive losing primary's account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_replication: Option<BackupReplicationConfig>,
}

/// `[snapshots.databases.backup_replication]`: RDS replicates the instance's automated
/// backups (snapshots and transaction logs) into the DR region *within primary's account*
/// (RDS replicates no backups across accounts). A restore from them lands there, in the
/// network named here, which the application in DR must reach (a shared VPC subnet, or
/// peering): say so in the runbook of the application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupReplicationConfig {
    /// Days of replicated backups RDS keeps in the DR region (1–35).
    #[serde(default = "seven")]
    pub retention_days: u32,
    /// The DB subnet group (primary's account, DR region) a restore from them goes into.
    pub subnet_group: ResourceName,
    /// …with these VPC security groups (ids, `sg-…`); none: the VPC's default group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_group_ids: Vec<String>,
    /// DB parameter group there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_group: Option<ResourceName>,
    /// Option group there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option_group: Option<ResourceName>,
}

fn yes() -> bool {
    true
}

fn seven() -> u32 {
    7
}

impl DatabaseConfig {
    /// A database protected with every default (tests, simple configs).
    pub fn named(identifier: ResourceName, kind: crate::snapshots::DatabaseKind) -> Self {
        Self {
            identifier,
            kind,
            interval_minutes: None,
            keep: None,
            max_age_hours: None,
            subnet_group: None,
            security_group_ids: Vec::new(),
            parameter_group: None,
            cluster_parameter_group: None,
            option_group: None,
            instance_class: None,
            multi_az: false,
            deletion_protection: true,
            instances: None,
            backup_replication: None,
        }
    }

    /// How and where a restore from its replicated automated backups lands: the
    /// replication's network and groups, the rest as for a restore of a snapshot copy.
    pub fn backup_replication_policy(&self) -> Option<crate::snapshots::BackupReplicationPolicy> {
        let replication = self.backup_replication.as_ref()?;
        let name = |n: &Option<ResourceName>| n.as_ref().map(ToString::to_string);
        Some(crate::snapshots::BackupReplicationPolicy {
            retention_days: replication.retention_days,
            restore: crate::snapshots::RestoreSettings {
                subnet_group: Some(replication.subnet_group.to_string()),
                security_group_ids: replication.security_group_ids.clone(),
                parameter_group: name(&replication.parameter_group),
                option_group: name(&replication.option_group),
                ..self.restore_settings()
            },
        })
    }

    /// What a restore of it in DR needs.
    pub fn restore_settings(&self) -> crate::snapshots::RestoreSettings {
        let name = |n: &Option<ResourceName>| n.as_ref().map(ToString::to_string);
        crate::snapshots::RestoreSettings {
            subnet_group: name(&self.subnet_group),
            security_group_ids: self.security_group_ids.clone(),
            parameter_group: name(&self.parameter_group),
            cluster_parameter_group: name(&self.cluster_parameter_group),
            option_group: name(&self.option_group),
            instance_class: self.instance_class.clone(),
            multi_az: self.multi_az,
            deletion_protection: self.deletion_protection,
            instances: self.instances.map_or(1, |n| n as u32),
        }
    }
}

/// Flow B: how hard the reconciler may lean on the IoT APIs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileConfig {
    /// Listing calls per second on each side (ListCertificates' quota is 10 TPS; the
    /// replicator shares the account's budget).
    pub max_calls_per_second: f64,
    /// Certificates per listing page (1..=250); the checkpoint is saved after each page.
    pub page_size: u32,
    /// Pages one invocation walks before it checkpoints and returns; unset, it walks until
    /// its time is nearly up. A fleet too large for one invocation continues in the next.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_count"
    )]
    pub max_pages_per_invocation: Option<u64>,
    /// How often the reconciler runs a status pass (both listings, id and status only:
    /// ≈ 4,000 calls per side for 1M certificates) before walking the deep pass further.
    pub status_pass_every_minutes: u32,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        Self {
            max_calls_per_second: 10.0,
            page_size: 250,
            max_pages_per_invocation: None,
            status_pass_every_minutes: 60,
        }
    }
}

/// Present only when running against the local sandbox (moto server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// Where the sandbox listens; every SDK client is pointed at it.
    pub endpoint: Endpoint,
    /// The IAM world this process acts in: provisioning registers the roles the CDK app
    /// creates for this topology under this name (each test has a world of its own, so
    /// tests whose topologies differ do not share a role's policy).
    #[serde(default = "default_world")]
    pub world: SandboxWorld,
    /// Whose ambient credentials this process holds (what Lambda, or an operator's SSO
    /// session, would give it in AWS): `operator` (drctl), `admin` (provisioning and the
    /// test harness: not evaluated), or `function:<name>` (that Lambda's execution role).
    #[serde(default)]
    pub principal: SandboxPrincipal,
}

impl SandboxConfig {
    /// The sandbox's ambient access key: it names the world and the principal, which the
    /// sandbox's IAM looks up (`sandbox:<world>:<principal>`).
    pub fn access_key_id(&self) -> String {
        format!("sandbox:{}:{}", self.world, self.principal)
    }
}

fn default_world() -> SandboxWorld {
    SandboxWorld("default".to_owned())
}

/// The name of a sandbox IAM world: 1 to 64 of `a-z`, `0-9`, `-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SandboxWorld(String);

impl SandboxWorld {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SandboxWorld {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let valid = !value.is_empty()
            && value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(Self(value))
        } else {
            Err(format!(
                "{value:?} is not a sandbox world name: 1 to 64 of a-z, 0-9 and -"
            ))
        }
    }
}

impl std::str::FromStr for SandboxWorld {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

impl From<SandboxWorld> for String {
    fn from(value: SandboxWorld) -> Self {
        value.0
    }
}

impl fmt::Display for SandboxWorld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The Lambdas of the control plane, by crate name (`lambdas/<name>`); the CDK app's
/// `FUNCTIONS` (infra/lib/names.ts) lists the same.
pub const FUNCTIONS: &[&str] = &[
    "cert-capture",
    "cert-replicator",
    "reconciler",
    "snapshot-controller",
    "health-checker",
];

/// Who holds a sandbox process's ambient credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SandboxPrincipal {
    /// The operators' principal (`-c operatorPrincipal`), which may assume the topology's
    /// `role_arn`s, as drctl does.
    #[default]
    Operator,
    /// The account's administrator: provisioning (what CloudFormation does in AWS) and the
    /// test harness (what AWS itself does: the event source mapping, CloudTrail…).
    Admin,
    /// A Lambda's execution role, which may assume only that function's side roles.
    Function(String),
}

impl TryFrom<String> for SandboxPrincipal {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "operator" => Ok(Self::Operator),
            "admin" => Ok(Self::Admin),
            other => match other.strip_prefix("function:") {
                Some(name) if FUNCTIONS.contains(&name) => Ok(Self::Function(name.to_owned())),
                _ => Err(format!(
                    "{value:?} is not a sandbox principal: operator, admin, or function:<name> \
                     with a name of {}",
                    FUNCTIONS.join(", ")
                )),
            },
        }
    }
}

impl std::str::FromStr for SandboxPrincipal {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

impl From<SandboxPrincipal> for String {
    fn from(value: SandboxPrincipal) -> Self {
        value.to_string()
    }
}

impl fmt::Display for SandboxPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Operator => f.write_str("operator"),
            Self::Admin => f.write_str("admin"),
            Self::Function(name) => write!(f, "function:{name}"),
        }
    }
}

/// The whole topology: both sides and the names of shared resources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// The primary side.
    pub primary: SideConfig,
    /// The DR side.
    pub dr: SideConfig,
    /// Certificate replication resources.
    #[serde(default)]
    pub replication: ReplicationNames,
    /// Failover resources.
    #[serde(default)]
    pub failover: FailoverConfig,
    /// DNS names.
    #[serde(default)]
    pub dns: DnsConfig,
    /// Database snapshots.
    #[serde(default)]
    pub snapshots: SnapshotConfig,
    /// Anti-entropy.
    #[serde(default)]
    pub reconcile: ReconcileConfig,
    /// Failover drills.
    #[serde(default)]
    pub drill: DrillConfig,
    /// Per-caller bounds on every AWS call (`[timeouts.<caller>]`); unset: the caller's
    /// defaults ([`crate::timeouts::CallTimeouts::defaults_for`]).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub timeouts: std::collections::BTreeMap<String, crate::timeouts::TimeoutOverrides>,
    /// The local sandbox, when not talking to real AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxConfig>,
}

/// Why a topology could not be loaded. Each variant says where and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}; pass --config or set DRCTL_CONFIG")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{origin} is not valid TOML: {message}")]
    Syntax {
        /// The file (or "environment").
        origin: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A field is missing, unknown or malformed.
    #[error("{origin}: {field}: {message}")]
    Field {
        /// The file the value came from (overrides are named as environment variables).
        origin: String,
        /// The dotted path of the field, e.g. `dr.account_id`.
        field: String,
        /// What is wrong and what is expected.
        message: String,
    },
}

impl Topology {
    /// Read and parse a config file, applying `DRCTL__…` overrides from the process
    /// environment.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string(), std::env::vars())
    }

    /// Parse config text, then apply overrides from `env` (pairs of variable and value;
    /// variables without the [`ENV_PREFIX`] are ignored). `origin` names the text in errors.
    pub fn parse(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        let mut overridden = Vec::new();
        for (var, value) in env {
            if let Some(path) = var.strip_prefix(ENV_PREFIX) {
                apply_override(&mut table, path, value).map_err(|message| ConfigError::Field {
                    origin: "environment".to_owned(),
                    field: var.clone(),
                    message,
                })?;
                overridden.push(path.to_ascii_lowercase().replace("__", "."));
            }
        }

        let topology: Topology = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| {
                let message = e.inner().message().to_owned();
                let mut field = e.path().to_string();
                // serde reports a missing field at its parent; name the field itself.
                if let Some(missing) = message
                    .strip_prefix("missing field `")
                    .and_then(|rest| rest.split('`').next())
                {
                    field = if field == "." {
                        missing.to_owned()
                    } else {
                        format!("{field}.{missing}")
                    };
                }
                let origin = if overridden.iter().any(|p| field.starts_with(p.as_str())) {
                    format!("{origin} (with {ENV_PREFIX} overrides)")
                } else {
                    origin.to_owned()
                };
                ConfigError::Field {
                    origin,
                    field,
                    message,
                }
            })?;
        topology.check(origin)?;
        Ok(topology)
    }

    /// Rules that span fields.
    fn check(&self, origin: &str) -> Result<(), ConfigError> {
        let field_error = |field: &str, message: String| ConfigError::Field {
            origin: origin.to_owned(),
            field: field.to_owned(),
            message,
        };
        for side in [Side::Primary, Side::Dr] {
            let config = self.side(side);
            if config.role_arn.account_id() != config.account_id {
                return Err(field_error(
                    &format!("{side}.role_arn"),
                    format!(
                        "the role belongs to account {} but {side}.account_id is {}; \
                         use a role in the {side} account",
                        config.role_arn.account_id(),
                        config.account_id
                    ),
                ));
            }
        }
        if self.primary.account_id == self.dr.account_id && self.primary.region == self.dr.region {
            return Err(field_error(
                "dr",
                format!(
                    "primary and DR are both account {} in {}; DR must be another account \
                     or at least another region, or a regional failure takes both down",
                    self.dr.account_id, self.dr.region
                ),
            ));
        }
        for (field, record) in [
            ("dns.record", &self.dns.record),
            ("dns.drill_record", &self.dns.drill_record),
        ] {
            if !record.is_within(&self.dns.zone) {
                return Err(field_error(
                    field,
                    format!("{record} is not inside the hosted zone {}", self.dns.zone),
                ));
            }
        }
        // NaN is no rate either: only a finite positive number passes.
        if self
            .replication
            .register_per_second
            .is_some_and(|rate| !(rate.is_finite() && rate > 0.0))
        {
            return Err(field_error(
                "replication.register_per_second",
                "must be a positive number, or unset for no pacing".to_owned(),
            ));
        }
        if !(self.reconcile.max_calls_per_second.is_finite()
            && self.reconcile.max_calls_per_second > 0.0)
        {
            return Err(field_error(
                "reconcile.max_calls_per_second",
                "must be a positive number of calls per second".to_owned(),
            ));
        }
        let f = &self.failover;
        for (field, value) in [
            ("failover.failure_threshold", u64::from(f.failure_threshold)),
            (
                "failover.recovery_threshold",
                u64::from(f.recovery_threshold),
            ),
            (
                "failover.rounds_per_invocation",
                u64::from(f.rounds_per_invocation),
            ),
            ("dns.ttl_seconds", u64::from(self.dns.ttl_seconds)),
        ] {
            if value == 0 {
                return Err(field_error(field, "must be at least 1".to_owned()));
            }
        }
        if let Some(quorum) = f.quorum {
            if quorum == 0 || (!f.probes.is_empty() && quorum as usize > f.probes.len()) {
                return Err(field_error(
                    "failover.quorum",
                    format!(
                        "must be 1 to the number of probes ({}), or unset for all of them",
                        f.probes.len()
                    ),
                ));
            }
        }
        if self.dns.primary_target == self.dns.dr_target {
            return Err(field_error(
                "dns.dr_target",
                "must differ from dns.primary_target, or failover would move nothing".to_owned(),
            ));
        }
        if !(1..=250).contains(&self.reconcile.page_size) {
            return Err(field_error(
                "reconcile.page_size",
                "must be 1 to 250 (ListCertificates' largest page)".to_owned(),
            ));
        }
        if !(1..=1_440).contains(&self.reconcile.status_pass_every_minutes) {
            return Err(field_error(
                "reconcile.status_pass_every_minutes",
                "must be 1 to 1440 (at least one status pass a day)".to_owned(),
            ));
        }
        if self.reconcile.max_pages_per_invocation == Some(0) {
            return Err(field_error(
                "reconcile.max_pages_per_invocation",
                "must be at least 1, or unset to walk until the invocation's time is nearly up"
                    .to_owned(),
            ));
        }
        if self.dns.record == self.dns.drill_record {
            return Err(field_error(
                "dns.drill_record",
                "must differ from dns.record, or a drill would flip production routing".to_owned(),
            ));
        }
        for (i, db) in self.snapshots.databases.iter().enumerate() {
            if db.instances == Some(0) {
                return Err(field_error(
                    &format!("snapshots.databases[{i}].instances"),
                    "must be at least 1: a restored cluster without an instance serves nothing"
                        .to_owned(),
                ));
            }
            if let Some(bad) = db.security_group_ids.iter().find(|g| !g.starts_with("sg-")) {
                return Err(field_error(
                    &format!("snapshots.databases[{i}].security_group_ids"),
                    format!("{bad:?} is not a security group id (sg-…)"),
                ));
            }
            if let Some(replication) = &db.backup_replication {
                let field = |key: &str| format!("snapshots.databases[{i}].backup_replication{key}");
                if db.kind != crate::snapshots::DatabaseKind::Instance {
                    return Err(field_error(
                        &field(""),
                        "RDS replicates automated backups across regions for DB instances \
                         only; an Aurora cluster's cross-region option is Aurora Global \
                         Database"
                            .to_owned(),
                    ));
                }
                if !(1..=35).contains(&replication.retention_days) {
                    return Err(field_error(
                        &field(".retention_days"),
                        format!("{} is outside RDS's 1–35 days", replication.retention_days),
                    ));
                }
                if let Some(bad) = replication
                    .security_group_ids
                    .iter()
                    .find(|g| !g.starts_with("sg-"))
                {
                    return Err(field_error(
                        &field(".security_group_ids"),
                        format!("{bad:?} is not a security group id (sg-…)"),
                    ));
                }
            }
        }
        let snapshots = &self.snapshots;
        if self.primary.account_id == self.dr.account_id
            && snapshots.regional_kms_key.starts_with("alias/")
            && snapshots.regional_kms_key == snapshots.dr_kms_key
        {
            return Err(field_error(
                "snapshots.dr_kms_key",
                format!(
                    "both sides are account {}, so the regional key and DR's key live in one \
                     account and region ({}), where {} can name only one key: give DR's key \
                     another alias",
                    self.dr.account_id, self.dr.region, snapshots.dr_kms_key
                ),
            ));
        }
        for key in self.timeouts.keys() {
            let caller = key.replace('_', "-");
            if !crate::timeouts::CALLERS.contains(&caller.as_str()) {
                return Err(field_error(
                    &format!("timeouts.{key}"),
                    format!(
                        "no such caller; callers: {}",
                        crate::timeouts::CALLERS
                            .iter()
                            .map(|c| crate::timeouts::config_key(c))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            crate::timeouts::check(&self.timeouts_of(&caller))
                .map_err(|message| field_error(&format!("timeouts.{key}"), message))?;
        }
        if matches!(&self.drill.canary, Some(canary) if !matches!(canary, ProbeConfig::Mqtt { .. }))
        {
            return Err(field_error(
                "drill.canary",
                "must be kind = \"mqtt\": the canary proves a device can connect to DR, \
                 which needs its certificate"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    /// The snapshot policy of every protected database.
    pub fn snapshot_policies(
        &self,
    ) -> Vec<(
        crate::snapshots::DatabaseKind,
        crate::snapshots::SnapshotPolicy,
    )> {
        const MINUTE_MS: i64 = 60_000;
        let config = &self.snapshots;
        config
            .databases
            .iter()
            .map(|db| {
                let policy = crate::snapshots::SnapshotPolicy {
                    database: db.identifier.to_string(),
                    interval_ms: i64::from(db.interval_minutes.unwrap_or(config.interval_minutes))
                        * MINUTE_MS,
                    keep_count: db.keep.unwrap_or(config.keep),
                    max_age_ms: i64::from(db.max_age_hours.unwrap_or(config.max_age_hours))
                        * 60
                        * MINUTE_MS,
                    regional_kms_key: config.regional_kms_key.clone(),
                    dr_kms_key: config.dr_kms_key.clone(),
                    dr_account: self.dr.account_id.to_string(),
                    max_copies_in_flight: crate::snapshots::MAX_COPIES_IN_FLIGHT,
                    restore: db.restore_settings(),
                    backup_replication: db.backup_replication_policy(),
                };
                (db.kind, policy)
            })
            .collect()
    }

    /// The bounds on every AWS call `caller` makes: its defaults, with `[timeouts.<caller>]`.
    pub fn timeouts_of(&self, caller: &str) -> crate::timeouts::CallTimeouts {
        let defaults = crate::timeouts::CallTimeouts::defaults_for(caller);
        match self.timeouts.get(&crate::timeouts::config_key(caller)) {
            Some(overrides) => defaults.with(overrides),
            None => defaults,
        }
    }

    /// The configuration of one side.
    pub fn side(&self, side: Side) -> &SideConfig {
        match side {
            Side::Primary => &self.primary,
            Side::Dr => &self.dr,
        }
    }
}

/// An optional count, written as a number in the file or (an override of a key the file
/// leaves out arrives as text) as a string of digits.
pub(crate) fn optional_count<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Count {
        Number(u64),
        Text(String),
    }
    match Option::<Count>::deserialize(d)? {
        None => Ok(None),
        Some(Count::Number(n)) => Ok(Some(n)),
        Some(Count::Text(text)) => text
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not a whole number"))),
    }
}

/// Set `table[a][b]… = value` for the path `A__B__…` (case-insensitive).
fn apply_override(table: &mut toml::Table, path: &str, value: String) -> Result<(), String> {
    let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
    if keys.iter().any(String::is_empty) {
        return Err("expected DRCTL__<SECTION>__<KEY>, e.g. DRCTL__DR__REGION".to_owned());
    }
    let (last, parents) = keys.split_last().expect("split yields at least one key");
    let mut current = table;
    for key in parents {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{key}` is a value in the config file, not a section"))?;
    }
    // A value the file gives as a number or boolean is overridden as one.
    let typed = match current.get(last.as_str()) {
        Some(toml::Value::Integer(_)) => value.parse().ok().map(toml::Value::Integer),
        Some(toml::Value::Float(_)) => value.parse().ok().map(toml::Value::Float),
        Some(toml::Value::Boolean(_)) => value.parse().ok().map(toml::Value::Boolean),
        _ => Some(toml::Value::String(value.clone())),
    }
    .ok_or_else(|| format!("{value:?} is not of the type the config file gives for `{last}`"))?;
    current.insert(last.clone(), typed);
    Ok(())
}

fn name(s: &str) -> ResourceName {
    s.parse().expect("default resource names are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SANDBOX: &str = include_str!("../../../config/sandbox.toml");

    fn parse(text: &str) -> Result<Topology, ConfigError> {
        Topology::parse(text, "test.toml", std::iter::empty())
    }

    fn parse_with_env(text: &str, env: &[(&str, &str)]) -> Result<Topology, ConfigError> {
        Topology::parse(
            text,
            "test.toml",
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    fn error_of(result: Result<Topology, ConfigError>) -> (String, String) {
        match result {
            Err(ConfigError::Field { field, message, .. }) => (field, message),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn the_committed_sandbox_config_parses() {
        let topology = parse(SANDBOX).unwrap();
        assert_eq!(topology.primary.account_id.as_str(), "111111111111");
        assert_eq!(topology.dr.region.as_str(), "us-west-2");
        assert!(topology.sandbox.is_some());
    }

    #[test]
    fn a_bad_account_id_names_the_field() {
        let text = SANDBOX.replace("\"222222222222\"", "\"22222\"");
        let (field, message) = error_of(parse(&text));
        assert_eq!(field, "dr.account_id");
        assert!(message.contains("12 digits"), "{message}");
    }

    #[test]
    fn a_missing_region_names_the_field() {
        let text = SANDBOX.replace("region = \"us-east-1\"\n", "");
        let (field, message) = error_of(parse(&text));
        assert_eq!(field, "primary.region");
        assert!(message.contains("missing field `region`"), "{message}");
    }

    #[test]
    fn an_unknown_key_is_an_error_not_a_silent_default() {
        let text = SANDBOX.replace("[replication]\n", "[replication]\ntopik = \"oops\"\n");
        let (field, message) = error_of(parse(&text));
        assert_eq!(field, "replication.topik");
        assert!(message.contains("unknown field `topik`"), "{message}");
    }

    #[test]
    fn primary_and_dr_in_the_same_account_and_region_is_refused() {
        let text = SANDBOX
            .replace("222222222222", "111111111111")
            .replace("us-west-2", "us-east-1");
        let (field, message) = error_of(parse(&text));
        assert_eq!(field, "dr");
        assert!(message.contains("another account"), "{message}");
    }

    #[test]
    fn one_account_in_two_regions_needs_two_snapshot_key_aliases() {
        let one_account = SANDBOX.replace("222222222222", "111111111111");
        let (field, message) = error_of(parse(&one_account));
        assert_eq!(field, "snapshots.dr_kms_key");
        assert!(message.contains("another alias"), "{message}");
        let distinct = one_account.replace(
            "dr_kms_key = \"alias/dr-snapshots\"",
            "dr_kms_key = \"alias/dr-snapshots-dr\"",
        );
        parse(&distinct).unwrap();
    }

    #[test]
    fn timeouts_are_per_caller_and_checked() {
        let text = format!("{SANDBOX}\n[timeouts.drctl]\noperation_ms = 9000\n");
        let topology = parse(&text).unwrap();
        assert_eq!(
            topology.timeouts_of("drctl").operation,
            std::time::Duration::from_secs(9)
        );
        assert_eq!(
            topology.timeouts_of("reconciler"),
            crate::CallTimeouts::defaults_for("reconciler")
        );
        let env = parse_with_env(
            SANDBOX,
            &[("DRCTL__TIMEOUTS__CERT_REPLICATOR__OPERATION_MS", "17000")],
        )
        .unwrap();
        assert_eq!(
            env.timeouts_of("cert-replicator").operation,
            std::time::Duration::from_secs(17)
        );
        let (field, _) = error_of(parse(&format!(
            "{SANDBOX}\n[timeouts.nobody]\nconnect_ms = 1\n"
        )));
        assert_eq!(field, "timeouts.nobody");
        let (field, message) = error_of(parse(&format!(
            "{SANDBOX}\n[timeouts.drctl]\nattempt_ms = 9000\n"
        )));
        assert_eq!(field, "timeouts.drctl");
        assert!(message.contains("must not exceed"), "{message}");
    }

    #[test]
    fn the_sandbox_names_its_world_and_principal() {
        let topology = parse(SANDBOX).unwrap();
        let sandbox = topology.sandbox.unwrap();
        assert_eq!(sandbox.access_key_id(), "sandbox:default:operator");
        let env = parse_with_env(
            SANDBOX,
            &[
                ("DRCTL__SANDBOX__WORLD", "t-1"),
                ("DRCTL__SANDBOX__PRINCIPAL", "function:cert-capture"),
            ],
        )
        .unwrap();
        assert_eq!(
            env.sandbox.unwrap().access_key_id(),
            "sandbox:t-1:function:cert-capture"
        );
        let (field, _) = error_of(parse_with_env(
            SANDBOX,
            &[("DRCTL__SANDBOX__PRINCIPAL", "function:nope")],
        ));
        assert_eq!(field, "sandbox.principal");
    }

    #[test]
    fn a_role_of_the_wrong_account_is_refused() {
        let text = SANDBOX.replace(
            "arn:aws:iam::222222222222:role/",
            "arn:aws:iam::111111111111:role/",
        );
        let (field, message) = error_of(parse(&text));
        assert_eq!(field, "dr.role_arn");
        assert!(
            message.contains("belongs to account 111111111111"),
            "{message}"
        );
    }

    #[test]
    fn environment_overrides_win_and_are_validated() {
        let topology = parse_with_env(
            SANDBOX,
            &[("DRCTL__DR__REGION", "eu-west-1"), ("OTHER", "x")],
        )
        .unwrap();
        assert_eq!(topology.dr.region.as_str(), "eu-west-1");

        let err = parse_with_env(SANDBOX, &[("DRCTL__PRIMARY__ACCOUNT_ID", "nope")]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("primary.account_id"), "{text}");
        assert!(text.contains("overrides"), "{text}");

        let (field, _) = error_of(parse_with_env(SANDBOX, &[("DRCTL__PRIMARY__TYPO", "x")]));
        assert_eq!(field, "primary.typo");
    }

    #[test]
    fn numeric_values_are_overridden_as_numbers_and_checked() {
        let topology =
            parse_with_env(SANDBOX, &[("DRCTL__RECONCILE__MAX_CALLS_PER_SECOND", "25")]).unwrap();
        assert_eq!(topology.reconcile.max_calls_per_second, 25.0);
        let (field, _) = error_of(parse_with_env(
            SANDBOX,
            &[("DRCTL__RECONCILE__MAX_CALLS_PER_SECOND", "0")],
        ));
        assert_eq!(field, "reconcile.max_calls_per_second");
        let (field, _) = error_of(parse_with_env(
            SANDBOX,
            &[("DRCTL__RECONCILE__PAGE_SIZE", "251")],
        ));
        assert_eq!(field, "reconcile.page_size");
        let paced = parse_with_env(
            SANDBOX,
            &[("DRCTL__RECONCILE__MAX_PAGES_PER_INVOCATION", "2")],
        )
        .unwrap();
        assert_eq!(paced.reconcile.max_pages_per_invocation, Some(2));
        let error = parse_with_env(
            SANDBOX,
            &[("DRCTL__RECONCILE__MAX_CALLS_PER_SECOND", "fast")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("DRCTL__RECONCILE__MAX_CALLS_PER_SECOND"),
            "{error}"
        );
    }

    #[test]
    fn syntax_errors_say_where() {
        let err = parse("[primary\naccount_id = 1").unwrap_err().to_string();
        assert!(err.contains("test.toml is not valid TOML"), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn a_drill_record_equal_to_production_is_refused() {
        let text = SANDBOX.replace("drill.iot.example.com", "iot.example.com");
        let (field, _) = error_of(parse(&text));
        assert_eq!(field, "dns.drill_record");
    }

    #[test]
    fn probes_parse_by_kind_and_the_quorum_must_fit_them() {
        let with_probes = format!(
            "{SANDBOX}\n{}",
            r#"
[[failover.probes]]
kind = "tls"
host = "127.0.0.1"
port = 8883
server_name = "iot.example.com"

[[failover.probes]]
kind = "alarm"
alarm_names = ["iot-connect-errors"]
"#
        );
        let topology = parse_with_env(&with_probes, &[]).unwrap();
        assert_eq!(topology.failover.probes.len(), 2);
        assert!(matches!(
            &topology.failover.probes[0],
            ProbeConfig::Tls {
                port: 8883,
                timeout_ms: 3_000,
                ..
            }
        ));
        assert_eq!(topology.failover.settings().quorum, None);
        let (field, _) = error_of(parse_with_env(
            &with_probes,
            &[("DRCTL__FAILOVER__QUORUM", "3")],
        ));
        assert_eq!(field, "failover.quorum");
        let (field, _) = error_of(parse_with_env(
            SANDBOX,
            &[("DRCTL__DNS__DR_TARGET", "primary.iot.example.com")],
        ));
        assert_eq!(field, "dns.dr_target");
    }

    #[test]
    fn a_drill_canary_must_connect_as_a_device() {
        let canary = |kind: &str, extra: &str| {
            format!(
                "{SANDBOX}\n[drill.canary]\nkind = \"{kind}\"\nhost = \"127.0.0.1\"\nport = 8883\n{extra}"
            )
        };
        let mqtt = canary(
            "mqtt",
            "client_cert_file = \"c.pem\"\nclient_key_file = \"k.pem\"\nclient_id = \"dr-canary\"\n",
        );
        let topology = parse_with_env(&mqtt, &[]).unwrap();
        assert!(matches!(
            topology.drill.canary,
            Some(ProbeConfig::Mqtt { .. })
        ));
        let (field, message) = error_of(parse_with_env(&canary("tls", ""), &[]));
        assert_eq!(field, "drill.canary", "{message}");
        assert_eq!(parse_with_env(SANDBOX, &[]).unwrap().drill.canary, None);
    }
}
