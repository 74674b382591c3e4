//! The two-account topology's configuration: which account and region is primary, which
//! is DR, how we reach each (an IAM role to assume), and the names of the resources the
//! flows share.
//!
//! Read once at start-up from a TOML file, with environment overrides, and parsed into
//! newtypes; every error names the offending field (`dr.account_id: …`) and what to write
//! instead. Unknown keys are errors too: a typo must not silently fall back to a default.
//!
//! Environment overrides use the prefix `DRCTL__` and `__` between levels, e.g.
//! `DRCTL__PRIMARY__ACCOUNT_ID=111111111111` or `DRCTL__SANDBOX__ENDPOINT=http://127.0.0.1:5757`.
//!
//! One file per section, each with the section's own checks; this module parses the
//! whole, applies the overrides and runs the checks that span sections.

mod dns;
mod drill;
mod failover;
mod fleet;
mod overrides;
mod reconcile;
mod replication;
mod sandbox;
mod sides;
mod snapshots;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use dns::DnsConfig;
pub use drill::DrillConfig;
pub use failover::{FailoverConfig, FlipMode, ProbeConfig};
pub use fleet::{BackoffConfig, FleetConfig, Jitter, ObjectivesConfig};
pub use reconcile::ReconcileConfig;
pub use replication::ReplicationNames;
pub use sandbox::{SandboxConfig, SandboxPrincipal, SandboxWorld};
pub use sides::SideConfig;
pub use snapshots::{
    BackupReplicationConfig, DatabaseConfig, GlobalSecondaryConfig, SnapshotConfig,
};

use crate::ids::ResourceName;
use crate::Side;
use overrides::apply_override;

/// The prefix of environment variables that override the config file.
pub const ENV_PREFIX: &str = "DRCTL__";

/// The Lambdas of the control plane, by crate name (`lambdas/<name>`). The CDK app reads
/// them from the deployment contract (`dr_aws::contract`) and refuses a contract that lists
/// one it does not deploy.
pub const FUNCTIONS: &[&str] = &[
    "cert-capture",
    "cert-replicator",
    "reconciler",
    "snapshot-controller",
    "health-checker",
];

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
    /// How the devices reconnect (the fleet's part of the RTO).
    #[serde(default)]
    pub fleet: FleetConfig,
    /// The recovery objectives readiness and drills are judged against.
    #[serde(default)]
    pub objectives: ObjectivesConfig,
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

/// A field that breaks a rule, and what to write instead (a section's check; the origin is
/// added where the whole is parsed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    field: String,
    message: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
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

    /// SHA-256 (hex) of the resolved topology — file, overrides and defaults — as drills
    /// record it: two reports with the same digest ran on the same configuration.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let json = serde_json::to_vec(self).expect("a topology serializes to JSON");
        hex::encode(sha2::Sha256::digest(json))
    }

    /// Rules that span fields, section by section.
    fn check(&self, origin: &str) -> Result<(), ConfigError> {
        self.check_fields().map_err(|e| ConfigError::Field {
            origin: origin.to_owned(),
            field: e.field,
            message: e.message,
        })
    }

    fn check_fields(&self) -> Result<(), FieldError> {
        for side in [Side::Primary, Side::Dr] {
            self.side(side).check(side)?;
        }
        let one_account = self.primary.account_id == self.dr.account_id;
        if one_account && self.primary.region == self.dr.region {
            return Err(FieldError::new(
                "dr",
                format!(
                    "primary and DR are both account {} in {}; DR must be another account \
                     or at least another region, or a regional failure takes both down",
                    self.dr.account_id, self.dr.region
                ),
            ));
        }
        self.dns.check()?;
        self.replication.check()?;
        self.reconcile.check()?;
        self.failover.check()?;
        self.fleet.check()?;
        self.objectives.check()?;
        self.failover
            .check_probes_bypass(self.dns.record.as_str())?;
        self.snapshots.check(
            &self.primary.account_id,
            &self.dr.account_id,
            &self.dr.region,
        )?;
        self.check_timeouts()?;
        self.drill.check()
    }

    fn check_timeouts(&self) -> Result<(), FieldError> {
        for key in self.timeouts.keys() {
            let caller = key.replace('_', "-");
            if !crate::timeouts::CALLERS.contains(&caller.as_str()) {
                return Err(FieldError::new(
                    format!("timeouts.{key}"),
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
                .map_err(|message| FieldError::new(format!("timeouts.{key}"), message))?;
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
        self.snapshots.policies(&self.dr.account_id)
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

fn name(s: &str) -> ResourceName {
    s.parse().expect("default resource names are valid")
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
