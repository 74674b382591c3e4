//! The capture and replicator binaries, started as local Lambdas with the roles the CDK app
//! gives them, and the replication queues between them (one per lane) polled as the SQS
//! event source mappings would.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dr_aws::{names, AwsSession};
use dr_core::replication::Lane;
use dr_core::{Side, Topology};
use serde_json::Value;

use super::error::{call_failed, FleetError};
use crate::local_lambda::{LocalFunction, LocalLambdaError, Poll, SqsEventSource};

/// The capture and replicator binaries, wired as AWS wires them.
pub struct ReplicationWiring {
    capture: LocalFunction,
    replicator: LocalFunction,
    /// One event source mapping per lane (registry, shadows), as the DR stack wires them.
    queues: Vec<SqsEventSource>,
}

/// Where the built Lambda binaries and the Runtime API emulator are.
#[derive(Debug, Clone)]
pub struct LambdaPaths {
    /// `cargo-lambda` (installed in the venv by `make setup`).
    pub cargo_lambda: PathBuf,
    /// The directory holding the built binaries (`cert-capture`, `health-checker`, …).
    pub bin_dir: PathBuf,
}

impl LambdaPaths {
    /// The venv of the checkout this crate was built from, and `bin_dir`.
    pub fn new(bin_dir: &Path) -> Self {
        Self {
            cargo_lambda: crate::LauncherPaths::repo_root().join(".venv/bin/cargo-lambda"),
            bin_dir: bin_dir.to_owned(),
        }
    }

    /// Start one function with `env` (its configuration), holding the credentials and roles
    /// the CDK app gives it in `topology`'s world ([`crate::identity::function_env`]).
    pub async fn start(
        &self,
        function: &str,
        topology: &Topology,
        env: &[(String, String)],
    ) -> Result<LocalFunction, LocalLambdaError> {
        let mut env = env.to_vec();
        env.extend(crate::identity::function_env(topology, function));
        LocalFunction::start(&self.cargo_lambda, &self.bin_dir.join(function), &env).await
    }
}

impl ReplicationWiring {
    /// Start both functions with `env` (their configuration) and find the queue.
    pub async fn start(
        paths: &LambdaPaths,
        env: &[(String, String)],
        session: &AwsSession,
        topology: &Topology,
    ) -> Result<Self, FleetError> {
        let sqs = session.sqs(Side::Dr);
        let mut queues = Vec::new();
        for lane in Lane::ALL {
            let queue_name = names::lane_queue_name(topology, lane);
            let queue_url = sqs
                .get_queue_url()
                .queue_name(&queue_name)
                .send()
                .await
                .map_err(|e| {
                    call_failed("GetQueueUrl")(format!(
                        "{} (is the sandbox provisioned? `drctl-sandbox up`)",
                        aws_sdk_sqs::error::DisplayErrorContext(e)
                    ))
                })?
                .queue_url()
                .unwrap_or_default()
                .to_owned();
            queues.push(SqsEventSource {
                sqs: sqs.clone(),
                queue_url,
                queue_arn: names::dr_queue_arn(topology, &queue_name),
                region: topology.dr.region.as_str().to_owned(),
                retry_failures_at_once: true,
            });
        }
        Ok(Self {
            capture: paths.start("cert-capture", topology, env).await?,
            replicator: paths.start("cert-replicator", topology, env).await?,
            queues,
        })
    }

    /// Hand one event to the capture function; how many messages it published.
    pub async fn capture(&self, event: &Value) -> Result<usize, FleetError> {
        Ok(self.publish(event).await?.len())
    }

    /// Hand one event to the capture function; the subject keys it published.
    pub async fn publish(&self, event: &Value) -> Result<Vec<String>, FleetError> {
        let answer = self.capture.invoke(event).await?;
        answer["published"]
            .as_array()
            .and_then(|published| {
                published
                    .iter()
                    .map(|key| key.as_str().map(str::to_owned))
                    .collect()
            })
            .ok_or_else(|| call_failed("cert-capture")(answer.to_string()))
    }

    /// One poll of each lane's event source mapping.
    pub async fn deliver(&self) -> Result<Poll, FleetError> {
        let mut total = Poll::default();
        for queue in &self.queues {
            let poll = queue.poll(&self.replicator).await?;
            total.delivered += poll.delivered;
            total.failed += poll.failed;
        }
        Ok(total)
    }

    /// Poll until the queue has been empty twice in a row.
    pub async fn drain(&self) -> Result<Poll, FleetError> {
        let mut total = Poll::default();
        let mut empty = 0;
        while empty < 2 {
            let poll = self.deliver().await?;
            if poll.delivered == 0 {
                empty += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            } else {
                empty = 0;
                total.delivered += poll.delivered;
                total.failed += poll.failed;
            }
        }
        Ok(total)
    }
}
