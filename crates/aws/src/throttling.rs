//! Throttling errors the SDK's own retry classifiers do not recognise, retried like the
//! ones they do.
//!
//! The SDK retries an error as throttling when its code is on `aws-runtime`'s list
//! (`Throttling`, `ThrottlingException`, `ProvisionedThroughputExceededException`, …) or
//! its model marks it retryable, and a response as transient when its status is 500, 502,
//! 503 or 504. Some "slow down" answers the control plane meets are none of these: SNS
//! answers a throttled Publish with `Throttled` and HTTP 429, and SNS and SQS pass KMS's
//! throttling on for encrypted topics and queues (`KMSThrottling`,
//! `KMS.ThrottlingException`). Left alone, each fails the call on its first attempt — a
//! capture's publish, a message parked in the DLQ — instead of backing off.

use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};

/// Error codes that mean "slow down" but are on no list of the SDK's. The one list: the
/// classifier below retries them within a call, and [`crate::error::port_error`] calls an
/// error with one of them retryable once the call's attempts are spent.
const THROTTLING_CODES_THE_SDK_MISSES: &[&str] = &[
    "Throttled",
    "KMSThrottling",
    "KMSThrottlingException",
    "KMS.ThrottlingException",
    "KmsThrottled",
];

/// Whether `code` means "slow down" although the SDK would not retry it.
pub fn missed_by_the_sdk(code: &str) -> bool {
    THROTTLING_CODES_THE_SDK_MISSES.contains(&code)
}

/// Registered on every client by the session layer.
#[derive(Debug, Clone, Copy, Default)]
pub struct ThrottlingTheSdkMisses;

impl ClassifyRetry for ThrottlingTheSdkMisses {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        if !matches!(ctx.output_or_error(), Some(Err(_))) {
            return RetryAction::NoActionIndicated;
        }
        match ctx.response() {
            Some(response)
                if is_throttling(
                    response.status().as_u16(),
                    |name| response.headers().get(name),
                    response.body().bytes(),
                ) =>
            {
                RetryAction::throttling_error()
            }
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "throttling the SDK misses (HTTP 429, SNS Throttled, KMS throttling)"
    }
}

/// Whether an error response means "slow down": HTTP 429 from any service, or one of the
/// codes above.
fn is_throttling<'a>(
    status: u16,
    header: impl Fn(&str) -> Option<&'a str>,
    body: Option<&[u8]>,
) -> bool {
    status == 429 || error_code(header, body).is_some_and(|code| missed_by_the_sdk(&code))
}

/// The error code of an AWS error response, wherever its protocol carries it: the
/// `x-amzn-query-error` header (JSON services that stayed compatible with the Query
/// protocol, like SQS: `code;Sender`), the `x-amzn-ErrorType` header (REST-JSON:
/// `code:namespace`), `__type` in a JSON body (`namespace#code`), `<Code>` in a Query
/// protocol's XML body.
fn error_code<'a>(header: impl Fn(&str) -> Option<&'a str>, body: Option<&[u8]>) -> Option<String> {
    let before = |value: &str, separator: char| {
        value
            .split(separator)
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    if let Some(value) = header("x-amzn-query-error") {
        return Some(before(value, ';'));
    }
    if let Some(value) = header("x-amzn-errortype") {
        return Some(before(value, ':'));
    }
    let body = std::str::from_utf8(body?).ok()?.trim_start();
    if body.starts_with('{') {
        let document: serde_json::Value = serde_json::from_str(body).ok()?;
        let kind = document.get("__type").or_else(|| document.get("code"))?;
        return kind
            .as_str()
            .and_then(|k| k.rsplit('#').next())
            .map(str::to_owned);
    }
    let start = body.find("<Code>")? + "<Code>".len();
    let length = body[start..].find("</Code>")?;
    Some(body[start..start + length].trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttling(status: u16, headers: &[(&'static str, &'static str)], body: &str) -> bool {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| *value)
        };
        is_throttling(status, header, Some(body.as_bytes()))
    }

    #[test]
    fn sns_throttled_and_kms_throttling_are_throttling() {
        assert!(throttling(
            429,
            &[],
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttled</Code></Error></ErrorResponse>"
        ));
        assert!(throttling(
            400,
            &[],
            "<ErrorResponse><Error><Type>Sender</Type><Code>KMSThrottling</Code></Error></ErrorResponse>"
        ));
        assert!(throttling(
            400,
            &[("x-amzn-query-error", "KMS.ThrottlingException;Sender")],
            r#"{"__type":"com.amazonaws.sqs#KmsThrottled","message":"slow down"}"#
        ));
        assert!(throttling(
            400,
            &[],
            r#"{"__type":"com.amazonaws.sqs#KmsThrottled","message":"slow down"}"#
        ));
        assert!(
            throttling(429, &[], ""),
            "any 429 is a request to slow down"
        );
    }

    #[test]
    fn other_client_errors_are_left_to_the_sdk() {
        assert!(!throttling(
            400,
            &[],
            "<ErrorResponse><Error><Code>InvalidParameter</Code></Error></ErrorResponse>"
        ));
        assert!(!throttling(
            400,
            &[(
                "x-amzn-ErrorType",
                "ResourceNotFoundException:http://internal/"
            )],
            r#"{"message":"no such certificate"}"#
        ));
        assert!(!throttling(
            400,
            &[(
                "x-amzn-query-error",
                "AWS.SimpleQueueService.NonExistentQueue;Sender"
            )],
            "{}"
        ));
        assert!(!throttling(400, &[], "not an AWS error body"));
        assert!(!throttling(403, &[], ""));
    }
}
