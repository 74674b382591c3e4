//! `[drill]`: what `drctl drill` checks beyond the database, the registries and the drill
//! record.

use serde::{Deserialize, Serialize};

use super::{FieldError, ProbeConfig};

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

impl DrillConfig {
    pub(super) fn check(&self) -> Result<(), FieldError> {
        if matches!(&self.canary, Some(canary) if !matches!(canary, ProbeConfig::Mqtt { .. })) {
            return Err(FieldError::new(
                "drill.canary",
                "must be kind = \"mqtt\": the canary proves a device can connect to DR, \
                 which needs its certificate",
            ));
        }
        Ok(())
    }
}
