//! Chaos rules: which calls a rule matches and the faults it may give them.

use std::time::Duration;

use crate::aws_request::ApiRequest;

/// Faults for the requests a rule matches. Probabilities are per request, drawn in this
/// order: drop, throttle, server error, drop the reply.
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
    /// Probability of forwarding the request to the sandbox, then closing the connection
    /// without its answer: the call took effect, the client cannot know. The SDK retries
    /// it, and a conditional write's retry then fails its own condition.
    pub drop_reply: f64,
    /// The rule applies to this many matching calls, then matches none (a fault on one
    /// chosen call); `None`: to every one.
    pub times: Option<u32>,
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

    pub(super) fn matches(&self, call: &ApiRequest) -> bool {
        self.service.as_deref().is_none_or(|s| s == call.service)
            && self
                .operation
                .as_deref()
                .is_none_or(|o| o == call.operation)
    }
}

/// What a rule did to one call, when it did anything.
pub(super) enum Fault {
    Drop,
    DropReply,
    Throttle,
    ServerError,
}
