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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_sdk_iot::Client;
    use aws_smithy_http_client::test_util::NeverClient;
    use aws_smithy_mocks::mock;
    use aws_smithy_runtime_api::client::http::{
        http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_types::retry::RetryConfig;
    use aws_smithy_types::timeout::TimeoutConfig;

    use super::*;
    use crate::testing::{iot, json_error};

    /// What ListCertificates fails with when IoT answers `answer`.
    async fn answered(answer: impl Fn() -> HttpResponse + Send + Sync + 'static) -> PortError {
        let rule = mock!(Client::list_certificates).then_http_response(answer);
        let error = iot(&[&rule])
            .list_certificates()
            .send()
            .await
            .expect_err("the answer is an error");
        port_error("ListCertificates", error)
    }

    /// What ListCertificates fails with on `config`'s transport, when nothing answers.
    async fn unanswered(config: aws_sdk_iot::config::Builder) -> PortError {
        let client = Client::from_conf(
            config
                .with_test_defaults_v2()
                .retry_config(RetryConfig::disabled())
                .build(),
        );
        let error = client
            .list_certificates()
            .send()
            .await
            .expect_err("nothing answers");
        port_error("ListCertificates", error)
    }

    #[tokio::test]
    async fn given_a_throttled_call_when_classified_then_it_is_retryable() {
        let error = answered(|| json_error(400, "ThrottlingException", "Rate exceeded")).await;

        assert!(error.retryable, "{error:?}");
        assert_eq!(error.message, "ThrottlingException: Rate exceeded");
        assert_eq!(error.operation, "ListCertificates");
        assert_eq!(error.no_answer, None);
    }

    #[tokio::test]
    async fn given_any_429_or_a_throttling_code_the_sdk_misses_when_classified_then_it_is_retryable(
    ) {
        let too_many = answered(|| json_error(429, "SomethingNew", "slow down")).await;
        let kms = answered(|| json_error(400, "KMSThrottlingException", "slow down")).await;

        assert!(too_many.retryable, "{too_many:?}");
        assert!(kms.retryable, "{kms:?}");
    }

    #[tokio::test]
    async fn given_a_server_error_when_classified_then_it_is_retryable() {
        for (status, code) in [
            (500, "InternalFailureException"),
            (503, "ServiceUnavailableException"),
            // A status alone says so, whatever the code.
            (502, "BadGateway"),
        ] {
            let error = answered(move || json_error(status, code, "try again")).await;

            assert!(error.retryable, "{status} {code}: {error:?}");
            assert!(!error.access_denied());
        }
    }

    #[tokio::test]
    async fn given_access_denied_when_classified_then_it_is_permanent_and_says_access_denied() {
        let error = answered(|| {
            json_error(
                403,
                "AccessDeniedException",
                "User: arn:aws:sts::222222222222:assumed-role/replicator/x is not authorized \
                 to perform: iot:ListCertificates",
            )
        })
        .await;

        assert!(!error.retryable, "{error:?}");
        assert!(error.access_denied());
    }

    #[tokio::test]
    async fn given_a_validation_error_when_classified_then_it_is_permanent() {
        let error = answered(|| json_error(400, "InvalidRequestException", "bad marker")).await;

        assert!(!error.retryable, "{error:?}");
        assert!(!error.access_denied());
        assert_eq!(error.message, "InvalidRequestException: bad marker");
    }

    #[tokio::test]
    async fn given_a_not_found_answer_when_classified_then_it_is_permanent_and_keeps_its_code() {
        let rule = mock!(Client::describe_thing)
            .then_http_response(|| json_error(404, "ResourceNotFoundException", "no thing"));
        let error = iot(&[&rule])
            .describe_thing()
            .thing_name("gone")
            .send()
            .await
            .unwrap_err();

        assert_eq!(code(&error), Some("ResourceNotFoundException"));
        assert!(!port_error("DescribeThing", error).retryable);
    }

    /// A transport whose every connection is refused: a region that is down.
    #[derive(Debug)]
    struct Refused;

    impl HttpConnector for Refused {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            let refused =
                std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
            HttpConnectorFuture::ready(Err(ConnectorError::io(refused.into())))
        }
    }

    #[tokio::test]
    async fn given_a_refused_connection_when_classified_then_no_answer_unreachable_and_retryable() {
        let transport = http_client_fn(|_, _| SharedHttpConnector::new(Refused));

        let error = unanswered(aws_sdk_iot::Config::builder().http_client(transport)).await;

        assert_eq!(error.no_answer, Some(NoAnswer::Unreachable));
        assert!(error.retryable);
        assert_eq!(error.message, "unreachable: connection refused");
    }

    #[tokio::test]
    async fn given_a_call_that_hangs_when_its_timeout_passes_then_no_answer_timed_out() {
        let timeouts = TimeoutConfig::builder()
            .operation_attempt_timeout(Duration::from_millis(50))
            .build();

        let error = unanswered(
            aws_sdk_iot::Config::builder()
                .http_client(NeverClient::new())
                .timeout_config(timeouts),
        )
        .await;

        assert_eq!(error.no_answer, Some(NoAnswer::TimedOut));
        assert!(error.retryable);
        assert_eq!(error.message, "no answer in time");
    }
}
