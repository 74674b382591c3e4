//! The adapters' unit tests run the real SDK clients against the SDK's own mocks
//! (`aws-smithy-mocks`): requests are built and answers parsed exactly as against AWS, with
//! canned answers in place of the service. Errors travel as the wire carries them, so a
//! test sees the error codes and statuses the SDK itself parses.

use aws_smithy_mocks::{mock_client, Rule, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;

/// An IoT control-plane client answering by `rules` (the first that matches a request).
/// The SDK's own retries are off: a test sees each answer once.
pub(crate) fn iot(rules: &[&Rule]) -> aws_sdk_iot::Client {
    mock_client!(aws_sdk_iot, RuleMode::MatchAny, rules, |c| c
        .retry_config(RetryConfig::disabled()))
}

/// An IoT data-plane client answering by `rules`.
pub(crate) fn iot_data(rules: &[&Rule]) -> aws_sdk_iotdataplane::Client {
    mock_client!(aws_sdk_iotdataplane, RuleMode::MatchAny, rules, |c| c
        .retry_config(RetryConfig::disabled()))
}

/// An RDS client answering by `rules`.
pub(crate) fn rds(rules: &[&Rule]) -> aws_sdk_rds::Client {
    mock_client!(aws_sdk_rds, RuleMode::MatchAny, rules, |c| c
        .retry_config(RetryConfig::disabled()))
}

/// A KMS client answering by `rules`.
pub(crate) fn kms(rules: &[&Rule]) -> aws_sdk_kms::Client {
    mock_client!(aws_sdk_kms, RuleMode::MatchAny, rules, |c| c
        .retry_config(RetryConfig::disabled()))
}

/// An error as a REST-JSON service (IoT) sends it: the code in `x-amzn-ErrorType`.
pub(crate) fn json_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let mut response = HttpResponse::new(
        status.try_into().expect("a valid status"),
        SdkBody::from(serde_json::json!({ "message": message }).to_string()),
    );
    response
        .headers_mut()
        .insert("x-amzn-ErrorType", code.to_owned());
    response
        .headers_mut()
        .insert("content-type", "application/json");
    response
}

/// An error as a Query-protocol service (RDS) sends it: an XML `ErrorResponse`.
pub(crate) fn query_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>\
         <Message>{message}</Message></Error><RequestId>test</RequestId></ErrorResponse>"
    );
    let mut response = HttpResponse::new(
        status.try_into().expect("a valid status"),
        SdkBody::from(body),
    );
    response.headers_mut().insert("content-type", "text/xml");
    response
}
