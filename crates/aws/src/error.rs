//! Mapping SDK errors into the domain's [`PortError`]: retryable or not, with the
//! service's own words.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use dr_core::port::{NoAnswer, PortError};

/// Error codes that mean "slow down or try again", across the services we call (with the
/// throttling codes the SDK itself misses, [`crate::throttling::missed_by_the_sdk`]).
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalFailureException",
    "InternalServerError",
    "InternalServerException",
    "SlowDown",
    // IoT: a concurrent update of the same resource, or a detach that has not settled yet
    // (DeleteCertificate right after DetachPolicy / DetachThingPrincipal).
    "ConflictingResourceUpdateException",
    "DeleteConflictException",
];

/// The error code of a service error, if the call got that far.
pub fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(context) => context.err().code(),
        _ => None,
    }
}

/// Classify an SDK error: transport failures, timeouts, throttling and 5xx are retryable;
/// everything else (validation, access, conflicts) is not.
pub fn port_error<E, R>(operation: &str, error: SdkError<E, R>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    let retryable = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(context) => {
            context.err().code().is_some_and(|c| {
                RETRYABLE_CODES.contains(&c) || crate::throttling::missed_by_the_sdk(c)
            }) || context.raw().status_code() >= 500
                || context.raw().status_code() == 429
        }
        _ => false,
    };
    let no_answer = match &error {
        SdkError::TimeoutError(_) => Some(NoAnswer::TimedOut),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => Some(NoAnswer::TimedOut),
        SdkError::DispatchFailure(_) => Some(NoAnswer::Unreachable),
        _ => None,
    };
    let message = match (&error, no_answer) {
        (SdkError::ServiceError(context), _) => format!(
            "{}: {}",
            context.err().code().unwrap_or("error"),
            context.err().message().unwrap_or("no message")
        ),
        // One line a person can read; the chain of causes is for the logs.
        (_, Some(NoAnswer::TimedOut)) => "no answer in time".to_owned(),
        (other, Some(NoAnswer::Unreachable)) => {
            let cause = match other {
                SdkError::DispatchFailure(failure) => failure
                    .as_connector_error()
                    .map(|e| innermost(e).unwrap_or_else(|| e.to_string())),
                _ => None,
            };
            format!(
                "unreachable: {}",
                cause.unwrap_or_else(|| "the connection failed".to_owned())
            )
        }
        (other, None) => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
    };
    if no_answer.is_some() {
        tracing::debug!(operation, error = %aws_smithy_types::error::display::DisplayErrorContext(&error), "no answer");
    }
    PortError {
        retryable,
        operation: operation.to_owned(),
        message,
        no_answer,
    }
}

/// The innermost cause of an error: what actually failed (e.g. "connection refused").
fn innermost(error: &dyn std::error::Error) -> Option<String> {
    let mut cause = error.source()?;
    while let Some(next) = cause.source() {
        cause = next;
    }
    Some(cause.to_string())
}

/// The HTTP status of a raw response.
pub trait HttpStatus {
    /// The status code.
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}
