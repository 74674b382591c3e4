//! Why a fleet simulation stops, and the one shape a failed call to the sandbox takes.

use std::path::PathBuf;

use crate::local_lambda::LocalLambdaError;

/// Why the simulation stopped.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// A Lambda could not be run or answered with an error.
    #[error(transparent)]
    Lambda(#[from] LocalLambdaError),
    /// A call to the sandbox failed.
    #[error("{call}: {reason}")]
    Call {
        /// Which call.
        call: String,
        /// Why.
        reason: String,
    },
    /// Writing the canary's or the CA's files failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// For `map_err`: the failure of the call named `call`, its reason given later (an SDK
/// error, a port error or a Lambda's answer, each rendered its own way).
pub(super) fn call_failed(call: impl Into<String>) -> impl FnOnce(String) -> FleetError {
    let call = call.into();
    move |reason| FleetError::Call { call, reason }
}
