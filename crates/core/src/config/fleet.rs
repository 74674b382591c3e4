//! `[fleet]` and `[objectives]`: how the wearables reconnect, and the recovery the service
//! promises. Together with DR's IoT quotas they give the fleet's RTO (`failover::fleet_rto`):
//! a patient is recovered when *their* device is connected in DR, not when DNS answers.

use serde::{Deserialize, Serialize};

use super::{optional_count, FieldError};

/// AWS IoT's keep-alive range: the broker clamps shorter and longer values (quota
/// "Connection inactivity (keep-alive interval)", L-E77027EF).
const KEEP_ALIVE_RANGE: std::ops::RangeInclusive<u32> = 30..=1_200;

/// What the devices do when their connection dies. The defaults are the AWS CRT device
/// SDKs' (keep-alive 1,200 s, reconnect back-off 1 → 120 s): the slow case, so a fleet
/// that never declared its settings is not promised a fast recovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetConfig {
    /// How many devices connect at once. Unset: one per ACTIVE certificate in the registry
    /// (set it when devices share certificates, or when not every certificate is in use).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_count"
    )]
    pub devices: Option<u64>,
    /// The MQTT keep-alive the devices ask for. A device whose broker went silent notices
    /// only when a PINGREQ goes unanswered: up to a keep-alive after its last packet, plus
    /// the ping timeout.
    pub keep_alive_seconds: u32,
    /// How long a device waits for PINGRESP before it calls the connection dead.
    pub ping_timeout_seconds: u32,
    /// How long one connection attempt to an endpoint that never answers costs the device
    /// (TCP/TLS connect timeout).
    pub connect_timeout_seconds: u32,
    /// Reconnect back-off between failed attempts.
    pub backoff: BackoffConfig,
    /// Topic filters each device subscribes to after CONNACK (shadow delta, commands…):
    /// subscriptions are rate-limited per account too.
    pub subscriptions_per_device: u32,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            devices: None,
            keep_alive_seconds: 1_200,
            ping_timeout_seconds: 30,
            connect_timeout_seconds: 5,
            backoff: BackoffConfig::default(),
            subscriptions_per_device: 2,
        }
    }
}

/// Exponential reconnect back-off: the n-th wait is `min(cap, base × 2ⁿ)`, with jitter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackoffConfig {
    /// The first wait, in milliseconds.
    pub base_ms: u64,
    /// The longest wait, in milliseconds.
    pub cap_ms: u64,
    /// How each wait is drawn.
    pub jitter: Jitter,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            base_ms: 1_000,
            cap_ms: 120_000,
            jitter: Jitter::Full,
        }
    }
}

/// How a back-off wait is drawn from its ceiling `c = min(cap, base × 2ⁿ)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Jitter {
    /// Uniform in `[0, c]` (the CRT SDKs' default; spreads a reconnect storm).
    Full,
    /// Uniform in `[c/2, c]`.
    Equal,
    /// Exactly `c`: every device retries in lock-step (a storm; shown so it can be fixed).
    None,
}

impl FleetConfig {
    pub(super) fn check(&self) -> Result<(), FieldError> {
        if !KEEP_ALIVE_RANGE.contains(&self.keep_alive_seconds) {
            return Err(FieldError::new(
                "fleet.keep_alive_seconds",
                "must be 30 to 1200: AWS IoT clamps the keep-alive to that range",
            ));
        }
        if self.ping_timeout_seconds == 0 || self.ping_timeout_seconds > self.keep_alive_seconds {
            return Err(FieldError::new(
                "fleet.ping_timeout_seconds",
                "must be at least 1 and at most the keep-alive",
            ));
        }
        if !(1..=120).contains(&self.connect_timeout_seconds) {
            return Err(FieldError::new(
                "fleet.connect_timeout_seconds",
                "must be 1 to 120",
            ));
        }
        if self.backoff.base_ms == 0 || self.backoff.cap_ms < self.backoff.base_ms {
            return Err(FieldError::new(
                "fleet.backoff",
                "base_ms must be at least 1 and cap_ms at least base_ms",
            ));
        }
        if self.backoff.cap_ms > 3_600_000 {
            return Err(FieldError::new(
                "fleet.backoff.cap_ms",
                "must be at most an hour (3600000)",
            ));
        }
        if self.subscriptions_per_device > 50 {
            return Err(FieldError::new(
                "fleet.subscriptions_per_device",
                "must be at most 50 (AWS IoT's subscriptions per connection)",
            ));
        }
        Ok(())
    }
}

/// What the service promises: checked by `drctl readiness` against the fleet model, and by
/// drills against what they measure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectivesConfig {
    /// Recovery time objective: from primary's failure until `rto_fleet_percent` of the
    /// fleet is connected in DR. Unset: readiness shows the model's figures with no verdict.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_count"
    )]
    pub rto_seconds: Option<u64>,
    /// Recovery point objective: the age of the newest data a failover restores. Drills
    /// judge the RPO they measure against it. Unset: no verdict.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_count"
    )]
    pub rpo_seconds: Option<u64>,
    /// The share of the fleet the RTO is about (a medical fleet: 99).
    pub rto_fleet_percent: u8,
}

impl Default for ObjectivesConfig {
    fn default() -> Self {
        Self {
            rto_seconds: None,
            rpo_seconds: None,
            rto_fleet_percent: 99,
        }
    }
}

impl ObjectivesConfig {
    pub(super) fn check(&self) -> Result<(), FieldError> {
        if !(1..=100).contains(&self.rto_fleet_percent) {
            return Err(FieldError::new(
                "objectives.rto_fleet_percent",
                "must be 1 to 100",
            ));
        }
        for (field, value) in [
            ("objectives.rto_seconds", self.rto_seconds),
            ("objectives.rpo_seconds", self.rpo_seconds),
        ] {
            if value == Some(0) {
                return Err(FieldError::new(
                    field,
                    "must be at least 1 (or left out for no objective)",
                ));
            }
        }
        Ok(())
    }
}
