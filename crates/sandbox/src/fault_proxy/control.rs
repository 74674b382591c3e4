//! A running proxy's control API (`/__sandbox/…` on its own port): where it lives, and a
//! client for another process: `drctl-sandbox outage`, the demo, provisioning a world.
//! Its server side is `control_server`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::counts::Counts;
use super::outage::{OutageChange, OutageMode, OutageScope};
use crate::iam::WorldExport;

/// Where the control API lives on the proxy's own port (no AWS API has this path).
pub const CONTROL_PREFIX: &str = "/__sandbox/";

/// Every control call answers within this (it touches no AWS API).
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a control call failed.
#[derive(Debug, thiserror::Error)]
#[error("the sandbox proxy at {endpoint}: {reason}")]
pub struct ControlError {
    endpoint: String,
    reason: String,
}

/// The control API of the proxy at an endpoint.
#[derive(Debug, Clone)]
pub struct ProxyClient {
    endpoint: String,
}

impl ProxyClient {
    /// The proxy listening at `endpoint` (`http://127.0.0.1:port`).
    pub fn new(endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        }
    }

    /// Start (`Some`) or end (`None`) an outage.
    pub async fn set_outage(
        &self,
        scope: OutageScope,
        outage: Option<OutageMode>,
    ) -> Result<(), ControlError> {
        let change = OutageChange { scope, outage };
        self.call(
            "PUT",
            "outage",
            serde_json::to_vec(&change).unwrap_or_default(),
        )
        .await
        .map(|_| ())
    }

    /// The outages in force.
    pub async fn outages(&self) -> Result<Vec<OutageChange>, ControlError> {
        let body = self.call("GET", "outages", Vec::new()).await?;
        serde_json::from_slice(&body).map_err(|e| self.error(format!("outages: {e}")))
    }

    /// What the proxy counted.
    pub async fn counts(&self) -> Result<Counts, ControlError> {
        let body = self.call("GET", "counts", Vec::new()).await?;
        serde_json::from_slice(&body).map_err(|e| self.error(format!("counts: {e}")))
    }

    /// Register (or replace) a world of roles; returns how many roles it holds.
    pub async fn register_world(
        &self,
        name: &str,
        export: &WorldExport,
    ) -> Result<(usize, String), ControlError> {
        let body = self
            .call(
                "PUT",
                &format!("iam/worlds/{name}"),
                serde_json::to_vec(export).unwrap_or_default(),
            )
            .await?;
        let answer: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| self.error(e.to_string()))?;
        Ok((
            answer["roles"].as_u64().unwrap_or_default() as usize,
            answer["outcome"].as_str().unwrap_or("created").to_owned(),
        ))
    }

    /// The last calls IAM refused.
    pub async fn denials(&self) -> Result<Vec<String>, ControlError> {
        let body = self.call("GET", "iam/denials", Vec::new()).await?;
        serde_json::from_slice(&body).map_err(|e| self.error(e.to_string()))
    }

    /// Whether a proxy answers there.
    pub async fn healthy(&self) -> bool {
        self.call("GET", "health", Vec::new()).await.is_ok()
    }

    fn error(&self, reason: String) -> ControlError {
        ControlError {
            endpoint: self.endpoint.clone(),
            reason,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Vec<u8>) -> Result<Bytes, ControlError> {
        let address = self.endpoint.trim_start_matches("http://").to_owned();
        let request = Request::builder()
            .method(method)
            .uri(format!("{CONTROL_PREFIX}{path}"))
            .header("host", &address)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| self.error(e.to_string()))?;
        let exchange = async {
            let stream = TcpStream::connect(&address)
                .await
                .map_err(|e| e.to_string())?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            if status.is_success() {
                Ok(body)
            } else {
                Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)))
            }
        };
        match tokio::time::timeout(CONTROL_TIMEOUT, exchange).await {
            Ok(result) => result.map_err(|e| self.error(e)),
            Err(_) => Err(self.error(format!("no answer within {} s", CONTROL_TIMEOUT.as_secs()))),
        }
    }
}
