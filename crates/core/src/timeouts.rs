//! How long one AWS call may take, per caller.
//!
//! A region that accepts connections and never answers is the usual shape of a regional
//! outage. Without a timeout, a call into it costs whatever the caller had left: a Lambda's
//! whole invocation, an operator's patience. Each caller therefore bounds every call three
//! ways — connecting, each attempt (sending to the last byte of the answer, which is also
//! the socket read timeout) and the whole operation with its retries — with defaults chosen
//! for what that caller is doing, and overrides in `[timeouts.<caller>]`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The bounds of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallTimeouts {
    /// TCP connect and TLS handshake.
    pub connect: Duration,
    /// One attempt: request sent to the answer's last byte; also the read timeout.
    pub attempt: Duration,
    /// The whole call, every retry and backoff included.
    pub operation: Duration,
    /// Attempts in all (the first and its retries), within `operation`.
    pub max_attempts: u32,
}

/// The callers with defaults of their own; any other name gets [`CallTimeouts::other`].
pub const CALLERS: &[&str] = &[
    "drctl",
    "cert-capture",
    "cert-replicator",
    "reconciler",
    "snapshot-controller",
    "health-checker",
    "sandbox",
];

impl CallTimeouts {
    const fn ms(connect: u64, attempt: u64, operation: u64) -> Self {
        Self {
            connect: Duration::from_millis(connect),
            attempt: Duration::from_millis(attempt),
            operation: Duration::from_millis(operation),
            // Ten rides out some twenty seconds of throttling (session.rs `retry_policy`).
            max_attempts: 10,
        }
    }

    const fn attempts(self, max_attempts: u32) -> Self {
        Self {
            max_attempts,
            ..self
        }
    }

    /// The defaults of `caller`, and why.
    pub fn defaults_for(caller: &str) -> Self {
        match caller {
            // An operator at a terminal during an outage: every section answers in seconds,
            // and a hung region costs one operation timeout (sections are read at once). Few
            // attempts: a refused connection is reported as refused, not retried into a
            // timeout.
            "drctl" => Self::ms(2_000, 4_000, 5_000).attempts(3),
            // Ten-second probe rounds: a DR call that hangs must not cost the next round,
            // and a failover step retries in the next round anyway.
            "health-checker" => Self::ms(2_000, 3_000, 8_000),
            // A 60 s Lambda: ride out half a minute of throttling before EventBridge's own
            // retry takes over.
            "cert-capture" => Self::ms(3_000, 10_000, 30_000),
            // A 60 s Lambda applying up to ten groups at once; a message that cannot be
            // applied within 25 s goes back to SQS rather than taking the batch down.
            "cert-replicator" => Self::ms(3_000, 10_000, 25_000),
            // A 15-minute pass, checkpointed per page: a hung side costs one page's budget,
            // then the pass reports it and keeps its cursor.
            "reconciler" => Self::ms(3_000, 10_000, 20_000),
            // RDS control-plane calls answer slowly, but a 5-minute tick must end.
            "snapshot-controller" => Self::ms(3_000, 15_000, 45_000),
            _ => Self::other(),
        }
    }

    /// Everything else (provisioning, the test harness): the sandbox can be slow under load.
    pub const fn other() -> Self {
        Self::ms(5_000, 30_000, 120_000)
    }

    /// These bounds with `overrides` applied.
    pub fn with(self, overrides: &TimeoutOverrides) -> Self {
        let pick =
            |value: Option<u64>, default: Duration| value.map_or(default, Duration::from_millis);
        Self {
            connect: pick(overrides.connect_ms, self.connect),
            attempt: pick(overrides.attempt_ms, self.attempt),
            operation: pick(overrides.operation_ms, self.operation),
            max_attempts: overrides
                .max_attempts
                .map_or(self.max_attempts, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        }
    }
}

/// `[timeouts.<caller>]` in the config (the caller's name with `_` for `-`, so that
/// `DRCTL__TIMEOUTS__CERT_REPLICATOR__OPERATION_MS` can override it); unset fields keep
/// the caller's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutOverrides {
    /// Connect timeout, milliseconds.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::config::optional_count"
    )]
    pub connect_ms: Option<u64>,
    /// Per-attempt (and read) timeout, milliseconds.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::config::optional_count"
    )]
    pub attempt_ms: Option<u64>,
    /// Whole-operation timeout, milliseconds.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::config::optional_count"
    )]
    pub operation_ms: Option<u64>,
    /// Attempts in all.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::config::optional_count"
    )]
    pub max_attempts: Option<u64>,
}

/// The config key of a caller (`cert-replicator` → `cert_replicator`).
pub fn config_key(caller: &str) -> String {
    caller.replace('-', "_")
}

/// Why a set of bounds cannot work, if it cannot.
pub fn check(timeouts: &CallTimeouts) -> Result<(), String> {
    if timeouts.connect.is_zero() || timeouts.attempt.is_zero() || timeouts.operation.is_zero() {
        return Err("every timeout must be at least 1 ms".to_owned());
    }
    if timeouts.max_attempts == 0 {
        return Err("max_attempts must be at least 1".to_owned());
    }
    if timeouts.attempt > timeouts.operation {
        return Err(format!(
            "attempt_ms ({} ms) must not exceed operation_ms ({} ms): the operation would end \
             before its first attempt could",
            timeouts.attempt.as_millis(),
            timeouts.operation.as_millis()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_caller_bounds_a_call_well_inside_its_own_budget() {
        // drctl status must answer within 15 s with a region hung.
        assert!(CallTimeouts::defaults_for("drctl").operation <= Duration::from_secs(5));
        // A probe round is 10 s.
        assert!(CallTimeouts::defaults_for("health-checker").operation < Duration::from_secs(10));
        // The Lambdas' own timeouts: capture and replicator 60 s.
        for caller in ["cert-capture", "cert-replicator"] {
            assert!(CallTimeouts::defaults_for(caller).operation < Duration::from_secs(60));
        }
        for caller in CALLERS {
            check(&CallTimeouts::defaults_for(caller)).unwrap();
        }
        assert_eq!(CallTimeouts::defaults_for("anyone"), CallTimeouts::other());
    }

    #[test]
    fn overrides_replace_only_what_they_name() {
        let base = CallTimeouts::defaults_for("drctl");
        let changed = base.with(&TimeoutOverrides {
            operation_ms: Some(9_000),
            ..TimeoutOverrides::default()
        });
        assert_eq!(changed.operation, Duration::from_secs(9));
        assert_eq!(
            (changed.connect, changed.attempt),
            (base.connect, base.attempt)
        );
        let bad = base.with(&TimeoutOverrides {
            attempt_ms: Some(10_000),
            ..TimeoutOverrides::default()
        });
        assert!(check(&bad).unwrap_err().contains("must not exceed"));
    }
}
