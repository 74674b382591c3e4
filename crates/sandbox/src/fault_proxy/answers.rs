//! AWS's error answers, in each protocol's own shape (codes and statuses from the services'
//! API models): throttling, 5xx, access denied, an unknown key.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use crate::aws_request::{ApiRequest, Protocol};

/// An HTTP answer of the proxy.
pub(crate) type Answer = Response<Full<Bytes>>;

/// An AWS error answer: HTTP status, error code, message, and whose fault it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AwsError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) sender_fault: bool,
}

/// DynamoDB's item operations: a table's throughput, not the API, throttles them.
const DYNAMODB_ITEM_OPERATIONS: &[&str] = &[
    "BatchGetItem",
    "BatchWriteItem",
    "DeleteItem",
    "ExecuteStatement",
    "ExecuteTransaction",
    "GetItem",
    "PutItem",
    "Query",
    "Scan",
    "TransactGetItems",
    "TransactWriteItems",
    "UpdateItem",
];

/// The throttling error the service itself answers. They differ, and a client must retry
/// each: SNS's `Throttled` is an HTTP 429 that the SDK's own classifiers do not recognise.
pub(crate) fn throttling_error(call: &ApiRequest) -> AwsError {
    let error = |status, code, message: &str| AwsError {
        status,
        code,
        message: message.to_owned(),
        sender_fault: true,
    };
    match (call.service.as_str(), call.protocol) {
        ("sns", _) => error(StatusCode::TOO_MANY_REQUESTS, "Throttled", "Rate exceeded"),
        ("sqs", _) => error(
            StatusCode::BAD_REQUEST,
            "RequestThrottled",
            "Request is throttled.",
        ),
        ("dynamodb", _) if DYNAMODB_ITEM_OPERATIONS.contains(&call.operation.as_str()) => error(
            StatusCode::BAD_REQUEST,
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded.",
        ),
        (_, Protocol::Query | Protocol::RestXml) => {
            error(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded")
        }
        (_, Protocol::Json) => error(
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate of requests exceeds the allowed throughput.",
        ),
        (_, Protocol::RestJson) => error(
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate exceeded",
        ),
    }
}

/// A 503 in the call's protocol.
pub(crate) fn server_error(call: &ApiRequest) -> AwsError {
    AwsError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: match call.protocol {
            Protocol::RestJson => "ServiceUnavailableException",
            Protocol::Json | Protocol::Query | Protocol::RestXml => "ServiceUnavailable",
        },
        message: "Service Unavailable".to_owned(),
        sender_fault: false,
    }
}

/// IAM's refusal, as each service words it: `AccessDenied` (HTTP 403) for STS, RDS,
/// CloudWatch, SQS and Route 53, SNS's `AuthorizationError`, and `AccessDeniedException`
/// for DynamoDB, KMS (HTTP 400) and IoT (HTTP 403).
pub(crate) fn access_denied(call: &ApiRequest, message: String) -> AwsError {
    let (status, code) = match (call.service.as_str(), call.protocol) {
        ("sns", _) => (StatusCode::FORBIDDEN, "AuthorizationError"),
        ("dynamodb" | "kms", _) => (StatusCode::BAD_REQUEST, "AccessDeniedException"),
        (_, Protocol::RestJson) => (StatusCode::FORBIDDEN, "AccessDeniedException"),
        _ => (StatusCode::FORBIDDEN, "AccessDenied"),
    };
    AwsError {
        status,
        code,
        message,
        sender_fault: true,
    }
}

/// A key AWS does not know: STS's `InvalidClientTokenId`, the others'
/// `UnrecognizedClientException` (HTTP 403).
pub(crate) fn unknown_key(call: &ApiRequest, message: String) -> AwsError {
    AwsError {
        status: StatusCode::FORBIDDEN,
        code: match call.protocol {
            Protocol::Query | Protocol::RestXml => "InvalidClientTokenId",
            Protocol::Json | Protocol::RestJson => "UnrecognizedClientException",
        },
        message,
        sender_fault: true,
    }
}

/// `error` as the call's protocol carries it.
pub(crate) fn error_answer(call: &ApiRequest, error: &AwsError) -> Answer {
    let AwsError {
        status,
        code,
        message,
        sender_fault,
    } = error;
    let fault = if *sender_fault { "Sender" } else { "Receiver" };
    let message = xml_escape(message);
    let builder = Response::builder().status(*status);
    let answer = match call.protocol {
        Protocol::RestJson => builder
            .header("content-type", "application/json")
            .header("x-amzn-ErrorType", *code)
            .body(Full::new(Bytes::from(
                serde_json::json!({ "message": error.message }).to_string(),
            ))),
        Protocol::Json => builder
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amzn-query-error", format!("{code};{fault}"))
            .body(Full::new(Bytes::from(
                serde_json::json!({
                    "__type": format!("com.amazonaws.{}#{code}", call.service),
                    "message": error.message,
                })
                .to_string(),
            ))),
        Protocol::Query => builder.header("content-type", "text/xml").body(Full::new(Bytes::from(format!(
            "<ErrorResponse><Error><Type>{fault}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ErrorResponse>"
        )))),
        Protocol::RestXml => builder.header("content-type", "text/xml").body(Full::new(Bytes::from(format!(
            "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error><Type>{fault}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ErrorResponse>"
        )))),
    };
    answer.unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(service: &str, operation: &str, protocol: Protocol) -> ApiRequest {
        let (parts, ()) = hyper::Request::builder()
            .uri("/")
            .body(())
            .unwrap()
            .into_parts();
        let mut call = ApiRequest::classify(&parts, b"");
        call.service = service.into();
        call.operation = operation.into();
        call.protocol = protocol;
        call
    }

    #[test]
    fn each_service_is_throttled_in_its_own_shape() {
        let shape = |call: &ApiRequest| {
            let error = throttling_error(call);
            (error.status.as_u16(), error.code)
        };
        assert_eq!(
            shape(&call("sns", "Publish", Protocol::Query)),
            (429, "Throttled")
        );
        assert_eq!(
            shape(&call("sts", "AssumeRole", Protocol::Query)),
            (400, "Throttling")
        );
        assert_eq!(
            shape(&call("dynamodb", "PutItem", Protocol::Json)),
            (400, "ProvisionedThroughputExceededException")
        );
        assert_eq!(
            shape(&call("dynamodb", "DescribeTable", Protocol::Json)),
            (400, "ThrottlingException")
        );
        assert_eq!(
            shape(&call("sqs", "SendMessage", Protocol::Json)),
            (400, "RequestThrottled")
        );
        assert_eq!(
            shape(&call(
                "iot",
                "RegisterCertificateWithoutCA",
                Protocol::RestJson
            )),
            (400, "ThrottlingException")
        );
    }

    #[test]
    fn access_is_denied_in_each_service_s_own_words() {
        let denied = |service: &str, protocol| {
            let e = access_denied(&call(service, "X", protocol), "no".into());
            (e.status.as_u16(), e.code)
        };
        assert_eq!(denied("sns", Protocol::Query), (403, "AuthorizationError"));
        assert_eq!(denied("rds", Protocol::Query), (403, "AccessDenied"));
        assert_eq!(
            denied("dynamodb", Protocol::Json),
            (400, "AccessDeniedException")
        );
        assert_eq!(
            denied("iot", Protocol::RestJson),
            (403, "AccessDeniedException")
        );
        assert_eq!(denied("route53", Protocol::RestXml), (403, "AccessDenied"));
    }
}
