//! One call's way through the proxy: the control API, or the outage it meets, then IAM,
//! then its rule's fault, then the sandbox upstream.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::answers::{
    access_denied, error_answer, server_error, throttling_error, unknown_key, Answer,
};
use super::control::CONTROL_PREFIX;
use super::control_server::control_answer;
use super::outage::OutageMode;
use super::rules::Fault;
use super::state::{count, decide, lock, outage_of, Control};
use crate::aws_request::ApiRequest;
use crate::iam::IamDecision;

/// A hung call is held this long at most, then its connection closed (a client gives up
/// long before; this only frees the proxy's task).
const HANG_AT_MOST: Duration = Duration::from_secs(15 * 60);

/// A dropped request is an error: hyper closes the connection without a response.
#[derive(Debug)]
pub(super) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

/// Answer one request, or drop it (an outage, a dropped-connection fault, a failed forward).
pub(super) async fn handle(
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
        Some(Fault::DropReply) => {
            // The sandbox acts on it; the client hears nothing back.
            let _ = forward(upstream, Request::from_parts(parts, Full::new(body))).await;
            return Err(Dropped);
        }
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
