//! A fault-injecting HTTP proxy in front of the sandbox: what AWS does to a client on a
//! bad day, and the IAM it enforces every day.
//!
//! * **Regional outages**: every call signed for a region (its SigV4 credential scope) —
//!   and, on a switch of its own, every call to Route 53's global control plane — is
//!   refused (the connection closed without an answer), hung (accepted and never answered:
//!   the usual shape of a regional failure) or slowed (answered after N seconds). The proxy
//!   counts what it swallowed per region and service, so a test can prove it happened and
//!   that a DR-only path never tried primary.
//! * **Chaos rules** per service and operation: throttling errors in each protocol's real
//!   shape, 5xx, added latency, dropped connections, a per-operation rate quota; or the
//!   whole endpoint unreachable.
//! * **IAM** ([`crate::iam`]), when the proxy enforces it (the sandbox's own proxy does):
//!   a call the caller's policies do not allow is refused with the service's AccessDenied.
//!
//! The code under test is pointed at [`FaultProxy::url`]; harness clients that play AWS
//! itself keep a direct endpoint. Proxies chain: a test's own fault proxy in front of the
//! sandbox's IAM proxy gives it faults of its own without touching other tests. Another
//! process (drctl, the demo) controls a running proxy through [`control::ProxyClient`].

pub mod control;

mod answers;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::aws_request::ApiRequest;
use crate::iam::{Iam, IamDecision, Registration, WorldExport};
use answers::{access_denied, error_answer, server_error, throttling_error, unknown_key, Answer};

/// Where the control API lives on the proxy's own port (no AWS API has this path).
pub const CONTROL_PREFIX: &str = "/__sandbox/";

/// A hung call is held this long at most, then its connection closed (a client gives up
/// long before; this only frees the proxy's task).
const HANG_AT_MOST: Duration = Duration::from_secs(15 * 60);

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

    fn matches(&self, call: &ApiRequest) -> bool {
        self.service.as_deref().is_none_or(|s| s == call.service)
            && self
                .operation
                .as_deref()
                .is_none_or(|o| o == call.operation)
    }
}

/// How an unavailable region (or Route 53's control plane) behaves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum OutageMode {
    /// The connection is closed without an answer: the client sees it refused.
    Refuse,
    /// Accepted and never answered: the client waits for its own timeout.
    Hang,
    /// Answered, after this many seconds.
    Slow {
        /// The delay.
        seconds: f64,
    },
}

impl std::fmt::Display for OutageMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refuse => f.write_str("refuse"),
            Self::Hang => f.write_str("hang"),
            Self::Slow { seconds } => write!(f, "slow ({seconds} s)"),
        }
    }
}

/// What an outage applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "kebab-case")]
pub enum OutageScope {
    /// Every call signed for this region (Route 53's aside).
    Region {
        /// The region, e.g. `us-east-1`.
        region: String,
    },
    /// Route 53's global control plane (its API lives in us-east-1).
    Route53,
}

impl std::fmt::Display for OutageScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Region { region } => write!(f, "region {region}"),
            Self::Route53 => f.write_str("Route 53's control plane"),
        }
    }
}

/// What the proxy did, per `service:Operation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCounts {
    /// Forwarded to the sandbox.
    pub forwarded: u64,
    /// Answered with a throttling error (by probability or over the quota).
    pub throttled: u64,
    /// Answered with a 503.
    pub server_errors: u64,
    /// Dropped without an answer (by probability or while down).
    pub dropped: u64,
    /// Refused by IAM.
    pub denied: u64,
}

/// What the proxy did with the calls of one region and service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionCounts {
    /// Calls that reached the region (outage or not: the outage check comes first).
    pub attempted: u64,
    /// Refused or hung by an outage.
    pub swallowed: u64,
    /// Delayed by a slow outage, then answered.
    pub slowed: u64,
}

/// Everything the proxy counted, as its control API reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Per `service:Operation`.
    pub calls: BTreeMap<String, CallCounts>,
    /// Per `region service` (`route53` for Route 53's control plane).
    pub regions: BTreeMap<String, RegionCounts>,
}

impl Counts {
    /// The counts of `region` (all services), or of `route53`.
    pub fn region(&self, region: &str) -> RegionCounts {
        self.regions
            .iter()
            .filter(|(k, _)| k.split(' ').next() == Some(region))
            .fold(RegionCounts::default(), |mut sum, (_, c)| {
                sum.attempted += c.attempted;
                sum.swallowed += c.swallowed;
                sum.slowed += c.slowed;
                sum
            })
    }
}

/// How to run a proxy.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProxyOptions {
    /// Seed of the fault draws (replayable faults).
    pub seed: u64,
    /// Enforce IAM on every call (the sandbox's own proxy does; a test's fault proxy in
    /// front of it need not).
    pub enforce_iam: bool,
}

#[derive(Default)]
struct Control {
    rules: Vec<FaultRule>,
    /// One token bucket per rule with a quota: (tokens, last refill).
    buckets: BTreeMap<usize, (f64, Instant)>,
    down: bool,
    rng: u64,
    counts: Counts,
    outages: BTreeMap<OutageScope, OutageMode>,
    iam: Option<Iam>,
}

/// The running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    control: Arc<Mutex<Control>>,
    task: JoinHandle<()>,
}

enum Fault {
    Drop,
    Throttle,
    ServerError,
}

impl FaultProxy {
    /// Listen on a free loopback port and forward to `upstream` (`http://127.0.0.1:port`).
    /// `seed` makes the faults replayable. No IAM: a test's own faults in front of the
    /// sandbox, whose own proxy enforces it.
    pub async fn start(upstream: &str, seed: u64) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Self::serve(
            listener,
            upstream,
            ProxyOptions {
                seed,
                enforce_iam: false,
            },
        )
    }

    /// Serve on `listener`, forwarding to `upstream`, with `options`.
    pub fn serve(
        listener: TcpListener,
        upstream: &str,
        options: ProxyOptions,
    ) -> std::io::Result<Self> {
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
        let addr = listener.local_addr()?;
        let control = Arc::new(Mutex::new(Control {
            rng: options.seed,
            iam: options.enforce_iam.then(Iam::default),
            ..Control::default()
        }));
        let shared = Arc::clone(&control);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
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

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
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

    /// Start (`Some`) or end (`None`) an outage of `scope`.
    pub fn set_outage(&self, scope: OutageScope, mode: Option<OutageMode>) {
        set_outage(&mut self.lock(), scope, mode);
    }

    /// Counts per `service:Operation` since the start.
    pub fn counts(&self) -> BTreeMap<String, CallCounts> {
        self.lock().counts.calls.clone()
    }

    /// Everything counted since the start.
    pub fn all_counts(&self) -> Counts {
        self.lock().counts.clone()
    }

    /// Register (or replace) a world of roles; an error if this proxy does not enforce IAM
    /// or a policy does not parse.
    pub fn register_world(
        &self,
        name: &str,
        export: &WorldExport,
    ) -> Result<(usize, Registration), String> {
        register_world(&mut self.lock(), name, export)
    }

    /// The last calls IAM refused, with AWS's message.
    pub fn denials(&self) -> Vec<String> {
        self.lock()
            .iam
            .as_ref()
            .map(|iam| iam.denials().to_vec())
            .unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Control> {
        lock(&self.control)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(control: &Mutex<Control>) -> std::sync::MutexGuard<'_, Control> {
    control
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn set_outage(control: &mut Control, scope: OutageScope, mode: Option<OutageMode>) {
    match mode {
        Some(mode) => {
            tracing::info!(%scope, %mode, "sandbox outage begins");
            control.outages.insert(scope, mode);
        }
        None => {
            if control.outages.remove(&scope).is_some() {
                tracing::info!(%scope, "sandbox outage ends");
            }
        }
    }
}

fn register_world(
    control: &mut Control,
    name: &str,
    export: &WorldExport,
) -> Result<(usize, Registration), String> {
    match control.iam.as_mut() {
        Some(iam) => iam.register(name, export),
        None => Err("this proxy does not enforce IAM".to_owned()),
    }
}

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
    if let Some(path) = parts.uri.path().strip_prefix(CONTROL_PREFIX) {
        // IAM lives in the sandbox's own proxy: a test's proxy in front of it passes the
        // world registrations on.
        if path.starts_with("iam/") && lock(&control).iam.is_none() {
            return forward(upstream, Request::from_parts(parts, Full::new(body)))
                .await
                .map_err(|_| Dropped);
        }
        return Ok(control_answer(parts.method.as_str(), path, &body, &control));
    }
    let call = ApiRequest::classify(&parts, &body);

    match outage_of(&control, &call) {
        Some(OutageMode::Refuse) => return Err(Dropped),
        Some(OutageMode::Hang) => {
            tokio::time::sleep(HANG_AT_MOST).await;
            return Err(Dropped);
        }
        Some(OutageMode::Slow { seconds }) => {
            tokio::time::sleep(Duration::from_secs_f64(seconds.max(0.0))).await;
        }
        None => {}
    }

    let mut session = None;
    let decision = lock(&control).iam.as_mut().map(|iam| iam.decide(&call));
    match decision {
        Some(IamDecision::Deny { message }) => {
            count(&control, &call, |c| c.denied += 1);
            tracing::warn!(service = %call.service, operation = %call.operation, %message, "sandbox IAM denied a call");
            return Ok(error_answer(&call, &access_denied(&call, message)));
        }
        Some(IamDecision::UnknownKey { message }) => {
            count(&control, &call, |c| c.denied += 1);
            return Ok(error_answer(&call, &unknown_key(&call, message)));
        }
        Some(IamDecision::Allow { session: s }) => session = s,
        None => {}
    }

    let (fault, latency) = decide(&control, &call);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let answer = match fault {
        Some(Fault::Drop) => return Err(Dropped),
        Some(Fault::Throttle) => error_answer(&call, &throttling_error(&call)),
        Some(Fault::ServerError) => error_answer(&call, &server_error(&call)),
        None => {
            let answer = forward(upstream, Request::from_parts(parts, Full::new(body)))
                .await
                .map_err(|_| Dropped)?;
            if let Some((world, role, name)) = session {
                remember_session(&control, &answer, world, role, name).await;
            }
            answer
        }
    };
    Ok(answer)
}

/// The outage `call` meets, counted per region and service.
fn outage_of(control: &Mutex<Control>, call: &ApiRequest) -> Option<OutageMode> {
    if !call.signed() {
        // The sandbox's own unsigned calls (moto's health and reset API) belong to no region
        // and meet no outage; counted, they showed as "unknown unknown".
        return None;
    }
    let mut control = lock(control);
    // Route 53's API is global (signed for us-east-1 in AWS, for the client's region with a
    // custom endpoint): it has its own switch, whatever region signed it.
    let (scope, key) = if call.service == "route53" {
        (OutageScope::Route53, "route53 route53".to_owned())
    } else {
        (
            OutageScope::Region {
                region: call.region.clone(),
            },
            format!("{} {}", call.region, call.service),
        )
    };
    let mode = control.outages.get(&scope).copied();
    let counts = control.counts.regions.entry(key).or_default();
    counts.attempted += 1;
    match mode {
        Some(OutageMode::Slow { .. }) => counts.slowed += 1,
        Some(_) => counts.swallowed += 1,
        None => {}
    }
    mode
}

fn count(control: &Mutex<Control>, call: &ApiRequest, f: impl FnOnce(&mut CallCounts)) {
    let key = format!("{}:{}", call.service, call.operation);
    f(lock(control).counts.calls.entry(key).or_default());
}

async fn remember_session(
    control: &Mutex<Control>,
    answer: &Answer,
    world: Option<String>,
    role: String,
    name: String,
) {
    if !answer.status().is_success() {
        return;
    }
    // A `Full` body cannot fail to collect.
    let Ok(collected) = answer.body().clone().collect().await;
    if let Some(key) = crate::iam::roles::issued_access_key(&collected.to_bytes()) {
        if let Some(iam) = lock(control).iam.as_mut() {
            iam.remember_session(&key, world, role, name);
        }
    }
}

/// Pick the fault for one call and count it.
fn decide(control: &Mutex<Control>, call: &ApiRequest) -> (Option<Fault>, Duration) {
    let mut control = lock(control);
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
    let counts = control.counts.calls.entry(key).or_default();
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

/// One outage change, as the control API takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutageChange {
    /// What it applies to.
    #[serde(flatten)]
    pub scope: OutageScope,
    /// The outage, or `None` to end it.
    pub outage: Option<OutageMode>,
}

/// The control API (see [`control`] for its client).
fn control_answer(method: &str, path: &str, body: &[u8], control: &Mutex<Control>) -> Answer {
    let json = |status: StatusCode, value: serde_json::Value| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(value.to_string())))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
    };
    let bad = |message: String| {
        json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({ "error": message }),
        )
    };
    match (method, path) {
        ("GET", "health") => json(StatusCode::OK, serde_json::json!({"ok": true})),
        ("GET", "counts") => json(
            StatusCode::OK,
            serde_json::to_value(&lock(control).counts).unwrap_or_default(),
        ),
        ("GET", "outages") => {
            let outages: Vec<OutageChange> = lock(control)
                .outages
                .iter()
                .map(|(scope, mode)| OutageChange {
                    scope: scope.clone(),
                    outage: Some(*mode),
                })
                .collect();
            json(
                StatusCode::OK,
                serde_json::to_value(outages).unwrap_or_default(),
            )
        }
        ("PUT", "outage") => match serde_json::from_slice::<OutageChange>(body) {
            Ok(change) => {
                set_outage(&mut lock(control), change.scope, change.outage);
                json(StatusCode::OK, serde_json::json!({"ok": true}))
            }
            Err(e) => bad(format!("an outage change: {e}")),
        },
        ("GET", "iam/denials") => json(
            StatusCode::OK,
            serde_json::json!(lock(control)
                .iam
                .as_ref()
                .map(|i| i.denials().to_vec())
                .unwrap_or_default()),
        ),
        ("PUT", world) if world.starts_with("iam/worlds/") => {
            let name = &world["iam/worlds/".len()..];
            match serde_json::from_slice::<WorldExport>(body) {
                Ok(export) => match register_world(&mut lock(control), name, &export) {
                    Ok((roles, registration)) => json(
                        StatusCode::OK,
                        serde_json::json!({ "roles": roles, "outcome": registration.as_str() }),
                    ),
                    Err(e) => bad(e),
                },
                Err(e) => bad(format!("a world export: {e}")),
            }
        }
        _ => json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": format!("no control {method} {CONTROL_PREFIX}{path}")}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(service: &str, operation: &str, region: &str) -> ApiRequest {
        let auth =
            format!("AWS4-HMAC-SHA256 Credential=K/20261203/{region}/{service}/aws4_request");
        let (parts, ()) = hyper::Request::builder()
            .uri("/")
            .header("authorization", auth)
            .body(())
            .unwrap()
            .into_parts();
        let mut call = ApiRequest::classify(&parts, b"");
        call.operation = operation.to_owned();
        call
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
        let describe = call("iot", "DescribeCertificate", "us-west-2");
        for _ in 0..10_000 {
            decide(&control, &describe);
        }
        let counts = lock(&control).counts.calls["iot:DescribeCertificate"].clone();
        assert!((2_800..3_200).contains(&counts.throttled), "{counts:?}");
        assert!((850..1_150).contains(&counts.server_errors), "{counts:?}");
        let other = call("sqs", "DescribeCertificate", "us-west-2");
        decide(&control, &other);
        assert_eq!(
            lock(&control).counts.calls["sqs:DescribeCertificate"].forwarded,
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
            decide(&quota, &describe);
        }
        let counts = lock(&quota).counts.calls["iot:DescribeCertificate"].clone();
        assert_eq!((counts.forwarded, counts.throttled), (10, 40), "{counts:?}");
    }

    #[test]
    fn an_outage_takes_the_whole_region_and_route53_has_its_own_switch() {
        let control = Mutex::new(Control::default());
        let primary = OutageScope::Region {
            region: "us-east-1".into(),
        };
        set_outage(&mut lock(&control), primary.clone(), Some(OutageMode::Hang));
        for service in ["iot", "sts", "rds", "monitoring", "kms", "dynamodb"] {
            assert_eq!(
                outage_of(&control, &call(service, "Any", "us-east-1")),
                Some(OutageMode::Hang)
            );
            assert_eq!(
                outage_of(&control, &call(service, "Any", "us-west-2")),
                None
            );
        }
        // Route 53 is not primary's region, even when signed for it.
        assert_eq!(
            outage_of(&control, &call("route53", "GetChange", "us-east-1")),
            None
        );
        set_outage(
            &mut lock(&control),
            OutageScope::Route53,
            Some(OutageMode::Refuse),
        );
        assert_eq!(
            outage_of(&control, &call("route53", "GetChange", "us-west-2")),
            Some(OutageMode::Refuse)
        );
        let counts = lock(&control).counts.clone();
        assert_eq!(counts.region("us-east-1").swallowed, 6);
        assert_eq!(counts.region("us-west-2").swallowed, 0);
        assert_eq!(counts.region("route53").swallowed, 1);
        set_outage(&mut lock(&control), primary, None);
        assert_eq!(outage_of(&control, &call("iot", "Any", "us-east-1")), None);
    }

    #[test]
    fn the_control_api_changes_outages_and_reports_counts() {
        let control = Mutex::new(Control::default());
        let change =
            br#"{"scope":"region","region":"us-east-1","outage":{"mode":"slow","seconds":2}}"#;
        assert_eq!(
            control_answer("PUT", "outage", change, &control).status(),
            StatusCode::OK
        );
        assert_eq!(
            outage_of(&control, &call("iot", "X", "us-east-1")),
            Some(OutageMode::Slow { seconds: 2.0 })
        );
        let end = br#"{"scope":"region","region":"us-east-1","outage":null}"#;
        control_answer("PUT", "outage", end, &control);
        assert_eq!(outage_of(&control, &call("iot", "X", "us-east-1")), None);
        assert_eq!(
            control_answer("PUT", "outage", b"{}", &control).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            control_answer("GET", "counts", b"", &control).status(),
            StatusCode::OK
        );
        assert_eq!(
            control_answer("GET", "nothing", b"", &control).status(),
            StatusCode::NOT_FOUND
        );
    }
}
