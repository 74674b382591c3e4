//! The real Lambda binaries, run locally the way Lambda runs them: each behind its own
//! Runtime API emulator (`cargo lambda watch --only-lambda-apis`), invoked synchronously.
//! [`SqsEventSource`] plays Lambda's SQS event source mapping: it receives up to ten
//! messages, invokes the function with an SQS event, and deletes only what the partial
//! batch response did not name (failures come back after their visibility timeout, and
//! SQS dead-letters them after maxReceiveCount receives).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

/// Why a local function could not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum LocalLambdaError {
    /// A binary or the emulator is missing.
    #[error("{0} not found; run `make build` (Lambda binaries) and `make setup` (cargo-lambda)")]
    Missing(PathBuf),
    /// Starting a process or talking to the emulator failed.
    #[error("local Lambda {function}: {reason}")]
    Failed {
        /// The function's binary name.
        function: String,
        /// What went wrong.
        reason: String,
    },
}

/// A function running behind its own Runtime API emulator; both processes stop when this
/// is dropped. What the function logs (its JSON log lines and EMF metrics, CloudWatch
/// Logs' share in AWS) goes to a file of its own; dropped while a test panics, the function
/// prints the file's last lines, so a test failing through a real binary shows why (an
/// AccessDenied, a refused message) and not only what it then missed.
pub struct LocalFunction {
    name: String,
    port: u16,
    _emulator: Child,
    binary: Child,
    /// How to start the binary again after a crash.
    relaunch: (PathBuf, Vec<(String, String)>),
    log: PathBuf,
}

/// Lines of a function's log shown when a test fails with it running.
pub const LOG_TAIL_LINES: usize = 40;

impl Drop for LocalFunction {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- last {LOG_TAIL_LINES} lines of the {} Lambda's log ({}) ----\n{}",
                self.name,
                self.log.display(),
                self.log_tail(LOG_TAIL_LINES)
            );
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

impl LocalFunction {
    /// Start `binary` (a built Lambda) behind the emulator `cargo_lambda`, with `env` (the
    /// function's configuration, as CDK would set it).
    pub async fn start(
        cargo_lambda: &Path,
        binary: &Path,
        env: &[(String, String)],
    ) -> Result<Self, LocalLambdaError> {
        for path in [cargo_lambda, binary] {
            if !path.exists() {
                return Err(LocalLambdaError::Missing(path.to_owned()));
            }
        }
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let failed = |reason: String| LocalLambdaError::Failed {
            function: name.clone(),
            reason,
        };
        let port = free_port().map_err(|e| failed(format!("no free port: {e}")))?;
        let emulator = Command::new(cargo_lambda)
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
            ])
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| failed(format!("cannot start the emulator: {e}")))?;
        wait_for_port(port)
            .await
            .map_err(|()| failed(format!("the emulator did not listen on {port}")))?;
        let log = log_path(&name);
        let process = spawn_binary(binary, port, env, &log)
            .map_err(|e| failed(format!("cannot start the binary: {e}")))?;
        Ok(Self {
            name,
            port,
            _emulator: emulator,
            binary: process,
            relaunch: (binary.to_owned(), env.to_vec()),
            log,
        })
    }

    /// The last `lines` lines the function logged (all of its instances, restarts too).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// `kill -9` the function's process, as a crashed or timed-out Lambda instance, and
    /// start a fresh one against the same emulator (a cold start).
    pub async fn crash_and_restart(&mut self) -> Result<(), LocalLambdaError> {
        let _ = self.binary.start_kill();
        let _ = self.binary.wait().await;
        let (binary, env) = &self.relaunch;
        self.binary = spawn_binary(binary, self.port, env, &self.log).map_err(|e| {
            LocalLambdaError::Failed {
                function: self.name.clone(),
                reason: format!("cannot restart the binary: {e}"),
            }
        })?;
        Ok(())
    }

    /// Invoke synchronously, as Lambda's Invoke API does, and return the function's answer.
    pub async fn invoke(&self, payload: &Value) -> Result<Value, LocalLambdaError> {
        let port = self.port;
        let body = payload.to_string();
        let answer = tokio::task::spawn_blocking(move || {
            post(port, "/2015-03-31/functions/_/invocations", &body)
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        answer.map_err(|reason| LocalLambdaError::Failed {
            function: self.name.clone(),
            reason,
        })
    }
}

/// Lambda's SQS event source mapping for one queue and one function.
pub struct SqsEventSource {
    /// The queue's client (its account and region).
    pub sqs: aws_sdk_sqs::Client,
    /// The queue's URL.
    pub queue_url: String,
    /// The queue's ARN (the event's `eventSourceARN`).
    pub queue_arn: String,
    /// The queue's region (the event's `awsRegion`).
    pub region: String,
    /// Make failed messages visible again at once instead of after the queue's visibility
    /// timeout (minutes): a simulation that must finish, not a test of the timeout.
    pub retry_failures_at_once: bool,
}

/// Messages received from the queue and not yet handed to the function.
#[derive(Debug, Default)]
pub struct Batch(Vec<aws_sdk_sqs::types::Message>);

impl Batch {
    /// Whether the queue gave nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What one poll of the event source did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Poll {
    /// Messages handed to the function.
    pub delivered: usize,
    /// Of those, reported failed (left on the queue).
    pub failed: usize,
}

impl SqsEventSource {
    /// Receive up to ten messages, invoke `function` with them, delete what it did not
    /// report failed. `delivered == 0` means the queue gave nothing.
    pub async fn poll(&self, function: &LocalFunction) -> Result<Poll, LocalLambdaError> {
        let batch = self.receive(function).await?;
        self.deliver(&batch, function).await
    }

    /// The first half of a poll: receive up to ten messages (now in flight, invisible
    /// until deleted or their visibility timeout ends). Split out so a chaos test can kill
    /// the function while a batch it holds is being applied.
    pub async fn receive(&self, function: &LocalFunction) -> Result<Batch, LocalLambdaError> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| LocalLambdaError::Failed {
                function: function.name.clone(),
                reason: format!(
                    "ReceiveMessage: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                ),
            })?;
        Ok(Batch(received.messages.unwrap_or_default()))
    }

    /// The second half of a poll: invoke `function` with `batch`, delete what it did not
    /// report failed.
    pub async fn deliver(
        &self,
        batch: &Batch,
        function: &LocalFunction,
    ) -> Result<Poll, LocalLambdaError> {
        let failed_to = |reason: String| LocalLambdaError::Failed {
            function: function.name.clone(),
            reason,
        };
        let records: Vec<Value> = batch
            .0
            .iter()
            .map(|m| {
                let attribute = |name: MessageSystemAttributeName| {
                    m.attributes()
                        .and_then(|a| a.get(&name))
                        .cloned()
                        .unwrap_or_default()
                };
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": {
                        "MessageGroupId": attribute(MessageSystemAttributeName::MessageGroupId),
                        "ApproximateReceiveCount": attribute(MessageSystemAttributeName::ApproximateReceiveCount),
                    },
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": self.region,
                })
            })
            .collect();
        if records.is_empty() {
            return Ok(Poll::default());
        }
        let response = function.invoke(&json!({ "Records": records })).await?;
        let failed: Vec<&str> = response["batchItemFailures"]
            .as_array()
            .ok_or_else(|| failed_to(format!("no partial batch response: {response}")))?
            .iter()
            .filter_map(|f| f["itemIdentifier"].as_str())
            .collect();
        for message in &batch.0 {
            if failed.contains(&message.message_id().unwrap_or_default()) {
                if self.retry_failures_at_once {
                    self.sqs
                        .change_message_visibility()
                        .queue_url(&self.queue_url)
                        .receipt_handle(message.receipt_handle().unwrap_or_default())
                        .visibility_timeout(0)
                        .send()
                        .await
                        .map_err(|e| {
                            failed_to(format!(
                                "ChangeMessageVisibility: {}",
                                aws_sdk_sqs::error::DisplayErrorContext(e)
                            ))
                        })?;
                }
            } else {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .map_err(|e| {
                        failed_to(format!(
                            "DeleteMessage: {}",
                            aws_sdk_sqs::error::DisplayErrorContext(e)
                        ))
                    })?;
            }
        }
        Ok(Poll {
            delivered: records.len(),
            failed: failed.len(),
        })
    }
}

/// Where a function's log goes: one file per function and process, unique in this run.
fn log_path(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "drctl-lambda-{name}-{}-{}.log",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// The function's process, polling the emulator on `port` (SIGKILLed when dropped), its
/// output appended to `log`.
fn spawn_binary(
    binary: &Path,
    port: u16,
    env: &[(String, String)],
    log: &Path,
) -> std::io::Result<Child> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let err = out.try_clone()?;
    Command::new(binary)
        .envs(env.iter().cloned())
        // The emulator serves one function, named `_`.
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{port}/.rt"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .kill_on_drop(true)
        .spawn()
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

async fn wait_for_port(port: u16) -> Result<(), ()> {
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(())
}

/// A minimal HTTP/1.1 POST on loopback that returns the JSON body.
fn post(port: u16, path: &str, body: &str) -> Result<Value, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    let response = String::from_utf8_lossy(&response);
    let (head, payload) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("not an HTTP response: {response}"))?;
    let payload = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(payload)
    } else {
        payload.to_owned()
    };
    serde_json::from_str(&payload).map_err(|e| format!("{e}: {head}\n{payload}"))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest.get(size + 2..).unwrap_or_default();
    }
    out
}
