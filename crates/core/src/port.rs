//! The error every port shares: a call to the outside world failed, and whether trying
//! again may help. Each flow's ports (replication, reconcile, failover, snapshots) return
//! it, so no flow imports another just to say "a call failed".

/// A failed call to a registry, ledger or bus, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct PortError {
    /// Throttling, timeouts and 5xx are retryable; validation and access errors are not.
    pub retryable: bool,
    /// The operation that failed (e.g. `RegisterCertificateWithoutCA`).
    pub operation: String,
    /// What the service said.
    pub message: String,
    /// Set when the service gave no answer at all: the usual face of a regional outage.
    pub no_answer: Option<NoAnswer>,
}

/// How a [`PortError`]'s message begins when the call's role could not be assumed.
pub const ROLE_REFUSED: &str = "AccessDenied: the role cannot be assumed";

/// How a call went unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoAnswer {
    /// Nothing came back within the caller's timeout (a hung or very slow region).
    TimedOut,
    /// The connection failed or closed before an answer (a refused region).
    Unreachable,
}

impl PortError {
    /// A failure worth retrying.
    pub fn transient(operation: &str, message: impl Into<String>) -> Self {
        Self {
            retryable: true,
            operation: operation.to_owned(),
            message: message.into(),
            no_answer: None,
        }
    }

    /// A failure retrying will not fix.
    pub fn permanent(operation: &str, message: impl Into<String>) -> Self {
        Self {
            retryable: false,
            operation: operation.to_owned(),
            message: message.into(),
            no_answer: None,
        }
    }

    /// Whether the call's role could not be assumed (it does not exist, or does not trust
    /// the caller): the adapters word that refusal with [`ROLE_REFUSED`].
    pub fn role_refused(&self) -> bool {
        self.message.starts_with(ROLE_REFUSED)
    }

    /// Whether IAM refused the call (a missing permission, not a passing fault).
    pub fn access_denied(&self) -> bool {
        [
            "AccessDenied",
            "AuthorizationError",
            "not authorized to perform",
        ]
        .iter()
        .any(|m| self.message.contains(m))
    }
}
