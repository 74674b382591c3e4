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
    // A role that cannot be assumed fails before the call is sent, as a dispatch failure
    // carrying the credentials provider's error: that is a refusal, not an outage.
    let refused = match &error {
        SdkError::DispatchFailure(failure) => failure
            .as_connector_error()
            .and_then(|e| credentials_refused(e)),
        _ => None,
    };
    if let Some(refused) = refused {
        return PortError {
            retryable: false,
            operation: operation.to_owned(),
            message: format!("{}: {refused}", dr_core::port::ROLE_REFUSED),
            no_answer: None,
        };
    }
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
                    .map(|e| in_words(&innermost(e).unwrap_or_else(|| e.to_string()))),
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

/// When a call failed because its credentials provider was refused (AssumeRole answered
/// with an error: the role does not exist, or does not trust the caller), what STS said.
/// `None` for every other failure, a provider that got no answer (refused connection,
/// closed connection, timeout) included: that is an outage, not a refusal.
fn credentials_refused(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    let answered = std::iter::once(error)
        .chain(chain(error))
        .find_map(|e| e.downcast_ref::<AssumeRoleError>())?;
    // STS's own words ("User: … is not authorized to perform: sts:AssumeRole on resource:
    // …"), not the SDK's Debug form of them.
    Some(match (answered.code(), answered.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        _ => answered.to_string(),
    })
}

/// An error's causes, itself excluded.
fn chain<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(error.source(), |e| e.source())
}

/// An OS error as a person says it: `Connection refused (os error 111)` → `connection
/// refused`.
fn in_words(cause: &str) -> String {
    let cause = match cause.rfind(" (os error ") {
        Some(at) if cause.ends_with(')') => &cause[..at],
        _ => cause,
    };
    let mut chars = cause.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

/// The innermost cause of an error: what actually failed (e.g. "connection refused").
fn innermost(error: &dyn std::error::Error) -> Option<String> {
    let mut cause = error.source()?;
    while let Some(next) = cause.source() {
        cause = next;
    }
    Some(cause.to_string())
}

/// The outcome of an idempotent call: success, or the error code that means "already so"
/// (a delete of something gone, a create of something there), both count as done.
pub fn already_so<O, E, R>(
    result: Result<O, SdkError<E, R>>,
    operation: &str,
    already: &str,
) -> Result<(), PortError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) if code(&e) == Some(already) => Ok(()),
        Err(e) => Err(port_error(operation, e)),
    }
}

/// The outcome of a create: `true` when it created, `false` when the resource already
/// existed (ResourceAlreadyExistsException), any other error as a [`PortError`].
pub fn created<O, E, R>(
    result: Result<O, SdkError<E, R>>,
    operation: &str,
) -> Result<bool, PortError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if code(&e) == Some("ResourceAlreadyExistsException") => Ok(false),
        Err(e) => Err(port_error(operation, e)),
    }
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

#[cfg(test)]
mod words_tests {
    use super::in_words;

    #[test]
    fn an_os_error_reads_as_a_person_says_it() {
        assert_eq!(
            in_words("Connection refused (os error 111)"),
            "connection refused"
        );
        assert_eq!(in_words("timed out"), "timed out");
        assert_eq!(in_words(""), "");
    }
}
