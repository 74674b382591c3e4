//! A fault-injecting HTTP proxy in front of the sandbox: what AWS does to a client on a
//! bad day — throttling errors in each protocol's real shape, 5xx, added latency, dropped
//! connections, a per-operation rate quota, or the whole endpoint unreachable — chosen per
//! service and operation. Point a topology's `[sandbox] endpoint` at [`FaultProxy::url`]
//! and the code under test meets the faults; harness clients that play AWS itself (the
//! event source mapping) keep the direct endpoint.
//!
//! Requests are classified the way AWS routes them: the service from the SigV4 credential
//! scope, the operation from `X-Amz-Target` (JSON protocols), `Action=` (Query protocol) or
//! the REST method and path (IoT).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Faults for the requests a rule matches. Probabilities are per request, drawn in this
/// order: drop, throttle, server error.
#[derive(Debug, Clone, Default)]
pub struct FaultRule {
    /// SigV4 service name (`iot`, `sqs`, `sns`, `dynamodb`, `sts`…); `None`: any.
    pub service: Option<String>,
    /// Operation name (`RegisterCertificateWithoutCA`, `ReceiveMessage`…); `None`: any.
    pub operation: Option<String>,
    /// Probability of a throttling error.
    pub throttle: f64,
    /// Probability of a 503.
    pub server_error: f64,
    /// Probability of closing the connection without an answer.
    pub drop: f64,
    /// Added before the request is forwarded (or failed).
    pub latency: Duration,
    /// A quota: requests beyond this rate get a throttling error, as AWS's own do.
    pub max_per_second: Option<f64>,
}

impl FaultRule {
    /// A rule for every operation of `service`.
    pub fn service(service: &str) -> Self {
        Self {
            service: Some(service.to_owned()),
            ..Self::default()
        }
    }

    /// A rule for one operation of `service`.
    pub fn operation(service: &str, operation: &str) -> Self {
        Self {
            operation: Some(operation.to_owned()),
            ..Self::service(service)
        }
    }

    fn matches(&self, call: &Call) -> bool {
        self.service.as_deref().is_none_or(|s| s == call.service)
            && self
                .operation
                .as_deref()
                .is_none_or(|o| o == call.operation)
    }
}

/// What the proxy did, per `service:Operation`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// Forwarded to the sandbox.
    pub forwarded: u64,
    /// Answered with a throttling error (by probability or over the quota).
    pub throttled: u64,
    /// Answered with a 503.
    pub server_errors: u64,
    /// Dropped without an answer (by probability or while down).
    pub dropped: u64,
}

#[derive(Default)]
struct Control {
    rules: Vec<FaultRule>,
    /// One token bucket per rule with a quota: (tokens, last refill).
    buckets: BTreeMap<usize, (f64, Instant)>,
    down: bool,
    rng: u64,
    counts: BTreeMap<String, CallCounts>,
}

/// The running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    control: Arc<Mutex<Control>>,
    task: JoinHandle<()>,
}

/// A request, as AWS would route it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Call {
    service: String,
    operation: String,
    protocol: Protocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// awsJson1_0 / awsJson1_1 (`X-Amz-Target`): DynamoDB, SQS.
    Json,
    /// awsQuery (form-encoded `Action=`): SNS, STS, CloudWatch.
    Query,
    /// restJson1: IoT.
    RestJson,
}

enum Fault {
    Drop,
    Throttle,
    ServerError,
}

impl FaultProxy {
    /// Listen on a free loopback port and forward to `upstream` (`http://127.0.0.1:port`).
    /// `seed` makes the faults replayable.
    pub async fn start(upstream: &str, seed: u64) -> std::io::Result<Self> {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("upstream {upstream}: {e}"),
                )
            })?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let control = Arc::new(Mutex::new(Control {
            rng: seed,
            ..Control::default()
        }));
        let shared = Arc::clone(&control);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let control = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        handle(request, upstream, Arc::clone(&control))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            control,
            task,
        })
    }

    /// The endpoint to give the code under test.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replace the rules (the first matching rule applies; none: forward untouched).
    pub fn set_rules(&self, rules: Vec<FaultRule>) {
        let mut control = self.lock();
        control.rules = rules;
        control.buckets.clear();
    }

    /// While down, every request is dropped: the endpoint is unreachable.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// Counts per `service:Operation` since the start.
    pub fn counts(&self) -> BTreeMap<String, CallCounts> {
        self.lock().counts.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Answer = Response<Full<Bytes>>;

/// A dropped request is an error: hyper closes the connection without a response.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

async fn handle(
    request: Request<Incoming>,
    upstream: SocketAddr,
    control: Arc<Mutex<Control>>,
) -> Result<Answer, Dropped> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    let call = classify(&parts, &body);
    let (fault, latency) = decide(&control, &call);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let answer = match fault {
        Some(Fault::Drop) => return Err(Dropped),
        Some(Fault::Throttle) => error_answer(&call, throttling_error(&call)),
        Some(Fault::ServerError) => error_answer(&call, server_error(&call)),
        None => forward(upstream, Request::from_parts(parts, Full::new(body)))
            .await
            .map_err(|_| Dropped)?,
    };
    Ok(answer)
}

/// Pick the fault for one call and count it.
fn decide(control: &Mutex<Control>, call: &Call) -> (Option<Fault>, Duration) {
    let mut control = control
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let key = format!("{}:{}", call.service, call.operation);
    let rule = control
        .rules
        .iter()
        .position(|r| r.matches(call))
        .map(|i| (i, control.rules[i].clone()));
    let down = control.down;
    let mut fault = None;
    let mut latency = Duration::ZERO;
    if down {
        fault = Some(Fault::Drop);
    } else if let Some((index, rule)) = rule {
        latency = rule.latency;
        if let Some(rate) = rule.max_per_second {
            let now = Instant::now();
            let (tokens, last) = control.buckets.entry(index).or_insert((rate.max(1.0), now));
            let refilled = now
                .duration_since(*last)
                .as_secs_f64()
                .mul_add(rate, *tokens);
            *tokens = refilled.min(rate.max(1.0));
            *last = now;
            if *tokens >= 1.0 {
                *tokens -= 1.0;
            } else {
                fault = Some(Fault::Throttle);
            }
        }
        if fault.is_none() {
            let draw = next_unit(&mut control.rng);
            fault = if draw < rule.drop {
                Some(Fault::Drop)
            } else if draw < rule.drop + rule.throttle {
                Some(Fault::Throttle)
            } else if draw < rule.drop + rule.throttle + rule.server_error {
                Some(Fault::ServerError)
            } else {
                None
            };
        }
    }
    let counts = control.counts.entry(key).or_default();
    match fault {
        None => counts.forwarded += 1,
        Some(Fault::Drop) => counts.dropped += 1,
        Some(Fault::Throttle) => counts.throttled += 1,
        Some(Fault::ServerError) => counts.server_errors += 1,
    }
    (fault, latency)
}

/// SplitMix64 → [0, 1).
fn next_unit(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

async fn forward(upstream: SocketAddr, request: Request<Full<Bytes>>) -> Result<Answer, String> {
    let stream = TcpStream::connect(upstream)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// An AWS error answer: HTTP status, error code, message, and whose fault it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AwsError {
    status: StatusCode,
    code: &'static str,
    message: &'static str,
    sender_fault: bool,
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

/// The throttling error the service itself answers (codes and statuses from the services'
/// API models). They differ, and a client must retry each: SNS's `Throttled` is an HTTP
/// 429 that the SDK's own classifiers do not recognise.
fn throttling_error(call: &Call) -> AwsError {
    let error = |status, code, message| AwsError {
        status,
        code,
        message,
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
        (_, Protocol::Query) => error(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded"),
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
fn server_error(call: &Call) -> AwsError {
    AwsError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: match call.protocol {
            Protocol::RestJson => "ServiceUnavailableException",
            Protocol::Json | Protocol::Query => "ServiceUnavailable",
        },
        message: "Service Unavailable",
        sender_fault: false,
    }
}

/// `error` as the call's protocol carries it.
fn error_answer(call: &Call, error: AwsError) -> Answer {
    let AwsError {
        status,
        code,
        message,
        sender_fault,
    } = error;
    let fault = if sender_fault { "Sender" } else { "Receiver" };
    let builder = Response::builder().status(status);
    let answer = match call.protocol {
        Protocol::RestJson => builder
            .header("content-type", "application/json")
            .header("x-amzn-ErrorType", code)
            .body(Full::new(Bytes::from(format!(
                "{{\"message\":\"{message}\"}}"
            )))),
        Protocol::Json => builder
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amzn-query-error", format!("{code};{fault}"))
            .body(Full::new(Bytes::from(format!(
                "{{\"__type\":\"com.amazonaws.{}#{code}\",\"message\":\"{message}\"}}",
                call.service
            )))),
        Protocol::Query => builder.header("content-type", "text/xml").body(Full::new(Bytes::from(format!(
            "<ErrorResponse><Error><Type>{fault}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ErrorResponse>"
        )))),
    };
    answer.unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn classify(parts: &hyper::http::request::Parts, body: &[u8]) -> Call {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    // SigV4: Credential=AKID/20261122/us-east-1/iot/aws4_request
    let service = header("authorization")
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown")
        .to_owned();
    let target = header("x-amz-target");
    if !target.is_empty() {
        return Call {
            service,
            operation: target.rsplit('.').next().unwrap_or(target).to_owned(),
            protocol: Protocol::Json,
        };
    }
    if header("content-type").starts_with("application/x-www-form-urlencoded") {
        let body = String::from_utf8_lossy(body);
        let operation = body
            .split('&')
            .find_map(|pair| pair.strip_prefix("Action="))
            .unwrap_or("unknown")
            .to_owned();
        return Call {
            service,
            operation,
            protocol: Protocol::Query,
        };
    }
    Call {
        operation: rest_operation(parts.method.as_str(), parts.uri.path()),
        service,
        protocol: Protocol::RestJson,
    }
}

/// The IoT operations the control plane calls, by method and path; others are named
/// `METHOD /first-segment`.
fn rest_operation(method: &str, path: &str) -> String {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let name = match (method, segments.as_slice()) {
        ("POST", ["certificate", "register-no-ca"]) => "RegisterCertificateWithoutCA",
        ("POST", ["certificate", "register"]) => "RegisterCertificate",
        ("GET", ["certificates"]) => "ListCertificates",
        ("GET", ["certificates", _]) => "DescribeCertificate",
        ("PUT", ["certificates", _]) => "UpdateCertificate",
        ("DELETE", ["certificates", _]) => "DeleteCertificate",
        ("GET", ["cacertificate", _]) => "DescribeCACertificate",
        ("PUT", ["target-policies", _]) => "AttachPolicy",
        ("POST", ["target-policies", _]) => "DetachPolicy",
        ("POST", ["attached-policies", _]) => "ListAttachedPolicies",
        ("PUT", ["things", _, "principals"]) => "AttachThingPrincipal",
        ("DELETE", ["things", _, "principals"]) => "DetachThingPrincipal",
        ("GET", ["principals", "things"]) => "ListPrincipalThings",
        ("GET", ["things", _, "principals"]) => "ListThingPrincipals",
        ("GET", ["things", _]) => "DescribeThing",
        ("POST", ["things", _]) => "CreateThing",
        ("PATCH", ["things", _]) => "UpdateThing",
        ("DELETE", ["things", _]) => "DeleteThing",
        ("GET", ["policies", _]) => "GetPolicy",
        ("POST", ["policies", _]) => "CreatePolicy",
        ("POST", ["thing-types", _]) => "CreateThingType",
        _ => return format!("{method} /{}", segments.first().unwrap_or(&"")),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iot_rest_calls_are_named_as_aws_names_them() {
        assert_eq!(
            rest_operation("POST", "/certificate/register-no-ca"),
            "RegisterCertificateWithoutCA"
        );
        assert_eq!(
            rest_operation("PUT", "/certificates/abc"),
            "UpdateCertificate"
        );
        assert_eq!(
            rest_operation("PUT", "/things/w-1/principals"),
            "AttachThingPrincipal"
        );
        assert_eq!(rest_operation("GET", "/things/w-1"), "DescribeThing");
        assert_eq!(rest_operation("GET", "/indices/search"), "GET /indices");
    }

    #[test]
    fn faults_follow_their_probabilities_and_the_quota() {
        let control = Mutex::new(Control {
            rng: 7,
            rules: vec![FaultRule {
                throttle: 0.3,
                server_error: 0.1,
                ..FaultRule::service("iot")
            }],
            ..Control::default()
        });
        let call = Call {
            service: "iot".into(),
            operation: "DescribeCertificate".into(),
            protocol: Protocol::RestJson,
        };
        for _ in 0..10_000 {
            decide(&control, &call);
        }
        let counts = control.lock().unwrap().counts["iot:DescribeCertificate"].clone();
        assert!((2_800..3_200).contains(&counts.throttled), "{counts:?}");
        assert!((850..1_150).contains(&counts.server_errors), "{counts:?}");
        let other = Call {
            service: "sqs".into(),
            ..call.clone()
        };
        decide(&control, &other);
        assert_eq!(
            control.lock().unwrap().counts["sqs:DescribeCertificate"].forwarded,
            1
        );

        // A quota of 10/s: a burst of 50 gets 10 through.
        let quota = Mutex::new(Control {
            rules: vec![FaultRule {
                max_per_second: Some(10.0),
                ..FaultRule::operation("iot", "DescribeCertificate")
            }],
            ..Control::default()
        });
        for _ in 0..50 {
            decide(&quota, &call);
        }
        let counts = quota.lock().unwrap().counts["iot:DescribeCertificate"].clone();
        assert_eq!((counts.forwarded, counts.throttled), (10, 40), "{counts:?}");
    }

    #[test]
    fn each_service_is_throttled_in_its_own_shape() {
        let call = |service: &str, operation: &str, protocol| Call {
            service: service.into(),
            operation: operation.into(),
            protocol,
        };
        let shape = |call: &Call| {
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
}
