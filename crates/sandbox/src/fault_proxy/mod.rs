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
//!   shape, 5xx, added latency, dropped connections, a per-operation rate quota, a call
//!   forwarded whose answer is then dropped (it took effect, the client cannot know), each
//!   for every call or the first N; or the whole endpoint unreachable.
//! * **IAM** ([`crate::iam`]), when the proxy enforces it (the sandbox's own proxy does):
//!   a call the caller's policies do not allow is refused with the service's AccessDenied.
//!
//! The code under test is pointed at [`FaultProxy::url`]; harness clients that play AWS
//! itself keep a direct endpoint. Proxies chain: a test's own fault proxy in front of the
//! sandbox's IAM proxy gives it faults of its own without touching other tests. Another
//! process (drctl, the demo) controls a running proxy through [`control::ProxyClient`].
//!
//! Its parts: `handler` (one call's way through outage, IAM and fault, then upstream),
//! `state` (the rules, outages and counts under one lock, and the bookkeeping of each
//! call), `control_server` (the control API's answers), `rules`, `outage` and `counts`
//! (their types), `answers` (AWS's error answers).

mod answers;
pub mod control;
mod control_server;
mod counts;
mod handler;
mod outage;
mod rules;
mod state;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use control::CONTROL_PREFIX;
pub use counts::{CallCounts, Counts, RegionCounts};
pub use outage::{OutageChange, OutageMode, OutageScope};
pub use rules::FaultRule;

use crate::iam::{Iam, Registration, WorldExport};
use handler::handle;
use state::{lock, register_world, set_outage, Control};

/// How to run a proxy.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProxyOptions {
    /// Seed of the fault draws (replayable faults).
    pub seed: u64,
    /// Enforce IAM on every call (the sandbox's own proxy does; a test's fault proxy in
    /// front of it need not).
    pub enforce_iam: bool,
}

/// The running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    control: Arc<Mutex<Control>>,
    task: JoinHandle<()>,
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
        control.uses.clear();
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

#[cfg(test)]
mod tests;
