//! `[reconcile]`: flow B, how hard the reconciler may lean on the IoT APIs.

use serde::{Deserialize, Serialize};

use super::{optional_count, FieldError};

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

impl ReconcileConfig {
    pub(super) fn check(&self) -> Result<(), FieldError> {
        if !(self.max_calls_per_second.is_finite() && self.max_calls_per_second > 0.0) {
            return Err(FieldError::new(
                "reconcile.max_calls_per_second",
                "must be a positive number of calls per second",
            ));
        }
        if !(1..=250).contains(&self.page_size) {
            return Err(FieldError::new(
                "reconcile.page_size",
                "must be 1 to 250 (ListCertificates' largest page)",
            ));
        }
        if !(1..=1_440).contains(&self.status_pass_every_minutes) {
            return Err(FieldError::new(
                "reconcile.status_pass_every_minutes",
                "must be 1 to 1440 (at least one status pass a day)",
            ));
        }
        if self.max_pages_per_invocation == Some(0) {
            return Err(FieldError::new(
                "reconcile.max_pages_per_invocation",
                "must be at least 1, or unset to walk until the invocation's time is nearly up",
            ));
        }
        Ok(())
    }
}
