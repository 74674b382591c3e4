//! Starting, checking and stopping the moto server that plays AWS locally, behind the
//! fault proxy that enforces IAM and plays regional outages ([`crate::fault_proxy`]).
//!
//! The server is `scripts/sandbox/launcher.py` run by the project venv's Python (made by
//! `make setup`). It binds loopback only and prints `READY <host> <port>` once it accepts
//! connections, so we learn a free port without racing another process for it. The
//! sandbox's endpoint — what every client is given — is the proxy's, never moto's: no call
//! escapes IAM.
//!
//! Two lifetimes:
//! * [`SandboxServer::start`] — owned by this process (tests): stdin is a pipe the launcher
//!   watches, so the server exits when we do, however we exit; dropping the handle kills it.
//!   The proxy runs on the caller's runtime.
//! * [`start_detached`] / [`stop_detached`] — for `drctl-sandbox up|down` and the demo: the
//!   server and a proxy process (`drctl-sandbox proxy`) outlive the command, and a state
//!   file records their pids and endpoints so a second `up` reuses them and `down` stops
//!   exactly them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use dr_core::Endpoint;

use crate::fault_proxy::control::ProxyClient;
use crate::fault_proxy::{FaultProxy, ProxyOptions};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long the launcher may take to print `READY` (importing moto takes ~2 s on 2 cores).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What can go wrong with the sandbox. Each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The venv or launcher script is missing.
    #[error("{0} not found; run `make setup` to create the sandbox venv")]
    NotSetUp(PathBuf),
    /// The process could not be started.
    #[error("cannot start the sandbox launcher: {0}")]
    Spawn(#[source] std::io::Error),
    /// The launcher exited or stayed silent instead of reporting readiness.
    #[error("the sandbox did not become ready: {reason}; its log is {log}")]
    NotReady {
        /// What happened.
        reason: String,
        /// Where the launcher's stderr went.
        log: PathBuf,
    },
    /// The server answers, but not as moto does.
    #[error("the sandbox at {endpoint} is not healthy: {reason}")]
    Unhealthy {
        /// The endpoint probed.
        endpoint: Endpoint,
        /// What the probe saw.
        reason: String,
    },
    /// Reading or writing the state file failed.
    #[error("sandbox state file {path}: {source}")]
    State {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The process would not stop.
    #[error("cannot stop sandbox process {pid}: {reason}")]
    Stop {
        /// The process id.
        pid: i32,
        /// Why.
        reason: String,
    },
}

/// Where the launcher and its Python live.
#[derive(Debug, Clone)]
pub struct LauncherPaths {
    /// The venv's Python interpreter.
    pub python: PathBuf,
    /// `scripts/sandbox/launcher.py`.
    pub script: PathBuf,
}

impl LauncherPaths {
    /// The paths inside a checkout of this repository rooted at `root`.
    pub fn in_repo(root: &Path) -> Self {
        Self {
            python: root.join(".venv/bin/python"),
            script: root.join("scripts/sandbox/launcher.py"),
        }
    }

    /// The checkout this crate was built from (`DRCTL_REPO_ROOT` overrides it).
    pub fn from_build() -> Self {
        Self::in_repo(&Self::repo_root())
    }

    /// The checkout to run from: `DRCTL_REPO_ROOT` (the Makefile sets it), else the checkout this
    /// crate was built from if it still exists, else the current directory. The build path alone
    /// is not enough: the target directory is shared between clones, and a binary compiled in a
    /// clone that is gone (CI's) is fresh for cargo in another checkout with the same sources.
    pub fn repo_root() -> PathBuf {
        if let Some(root) = std::env::var_os("DRCTL_REPO_ROOT") {
            return PathBuf::from(root);
        }
        let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        if built_in.join("Cargo.toml").exists() {
            built_in
        } else {
            PathBuf::from(".")
        }
    }

    fn check(&self) -> Result<(), SandboxError> {
        for path in [&self.python, &self.script] {
            if !path.exists() {
                return Err(SandboxError::NotSetUp(path.clone()));
            }
        }
        Ok(())
    }

    fn command(&self, port: u16, exit_with_parent: bool) -> Command {
        let mut command = Command::new(&self.python);
        command
            .arg(&self.script)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            // Unbuffered, so READY arrives the moment it is printed.
            .env("PYTHONUNBUFFERED", "1");
        if exit_with_parent {
            command.arg("--exit-with-parent");
        }
        command
    }
}

/// A sandbox server owned by this process, behind its IAM-enforcing proxy; both stop when
/// the handle is dropped or this process exits.
pub struct SandboxServer {
    child: Child,
    moto: Endpoint,
    proxy: FaultProxy,
    endpoint: Endpoint,
}

impl std::fmt::Debug for SandboxServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxServer")
            .field("endpoint", &self.endpoint)
            .field("moto", &self.moto)
            .finish_non_exhaustive()
    }
}

impl SandboxServer {
    /// Start a server on a free loopback port behind a proxy on another, and wait until it is
    /// healthy. Its stderr (request log, tracebacks) goes to `log`.
    pub async fn start(paths: &LauncherPaths, log: &Path) -> Result<Self, SandboxError> {
        Self::start_with(paths, log, &[]).await
    }

    /// The same, with `env` set for the launcher: its patches' settings, e.g.
    /// `DRCTL_SANDBOX_RESTORE_SECONDS` for restores that take as long as a game day plays.
    pub async fn start_with(
        paths: &LauncherPaths,
        log: &Path,
        env: &[(&str, &str)],
    ) -> Result<Self, SandboxError> {
        paths.check()?;
        let log_file = create_log(log)?;
        let mut command = paths.command(0, true);
        command.envs(env.iter().copied());
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .map_err(SandboxError::Spawn)?;
        let moto = wait_for_ready(&mut child, log).await?;
        check_health(&moto).await?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(SandboxError::Spawn)?;
        let proxy =
            FaultProxy::serve(listener, moto.as_str(), iam_proxy()).map_err(SandboxError::Spawn)?;
        let endpoint = Endpoint::loopback(proxy.port());
        Ok(Self {
            child,
            moto,
            proxy,
            endpoint,
        })
    }

    /// Where clients go: the proxy (IAM enforced, outages played).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// moto itself, behind the proxy: only for what plays AWS's own plumbing.
    pub fn moto_endpoint(&self) -> &Endpoint {
        &self.moto
    }

    /// The proxy, to switch outages and read its counts.
    pub fn proxy(&self) -> &FaultProxy {
        &self.proxy
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stop the server and wait until its process is gone.
    pub async fn stop(mut self) -> Result<(), SandboxError> {
        if let Some(pid) = self.child.id() {
            terminate(pid as i32).await?;
        }
        // Reap the child so no zombie stays behind.
        let _ = self.child.wait().await;
        Ok(())
    }
}

/// The sandbox's own proxy: IAM on every call.
fn iam_proxy() -> ProxyOptions {
    ProxyOptions {
        seed: 0,
        enforce_iam: true,
    }
}

/// Serve the sandbox's proxy on `listen` in front of `upstream` until this process is
/// stopped (`drctl-sandbox proxy`, started by [`start_detached`]).
pub async fn serve_proxy(listen: u16, upstream: &Endpoint) -> Result<(), SandboxError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", listen))
        .await
        .map_err(SandboxError::Spawn)?;
    let proxy =
        FaultProxy::serve(listener, upstream.as_str(), iam_proxy()).map_err(SandboxError::Spawn)?;
    println!("READY 127.0.0.1 {}", proxy.port());
    std::future::pending::<()>().await;
    drop(proxy);
    Ok(())
}

/// How to start the proxy process: a program and its arguments before `--listen`.
#[derive(Debug, Clone)]
pub struct ProxyCommand {
    /// The program (drctl-sandbox).
    pub program: PathBuf,
    /// Its arguments (`proxy`).
    pub args: Vec<String>,
}

/// What `drctl-sandbox up` leaves behind for `down` and for the next `up`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetachedState {
    /// The server's process id.
    pub pid: i32,
    /// Where clients go: the proxy.
    pub endpoint: Endpoint,
    /// The launcher's log.
    pub log: PathBuf,
    /// moto itself, behind the proxy.
    pub moto: Endpoint,
    /// The proxy's process id.
    pub proxy_pid: i32,
}

/// Whether [`start_detached`] started a server or found one running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// A new server was started.
    New,
    /// The server recorded in the state file is alive and healthy; nothing was started.
    AlreadyRunning,
}

/// Start a server on a free port and its proxy on `endpoint`'s port, both outliving this
/// process, unless the ones recorded in `state_dir` already run there. Idempotent.
pub async fn start_detached(
    paths: &LauncherPaths,
    endpoint: &Endpoint,
    state_dir: &Path,
    proxy: &ProxyCommand,
) -> Result<(DetachedState, Started), SandboxError> {
    if let Some(state) = read_state(state_dir)? {
        let alive = is_our_launcher(state.pid) && is_our_proxy(state.proxy_pid);
        if alive && &state.endpoint == endpoint {
            check_health(&state.endpoint).await?;
            return Ok((state, Started::AlreadyRunning));
        }
        // Half of it, or on another port than the config now says: replace it.
        for pid in [state.proxy_pid, state.pid] {
            if is_our_launcher(pid) || is_our_proxy(pid) {
                terminate(pid).await?;
            }
        }
        remove_state(state_dir)?;
    }
    paths.check()?;
    let log = state_dir.join("moto.log");
    let log_file = create_log(&log)?;
    let mut child = paths
        .command(0, false)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        // Its own process group: a Ctrl-C in the terminal that ran `drctl-sandbox up`
        // must not take the sandbox down with it.
        .process_group(0)
        .spawn()
        .map_err(SandboxError::Spawn)?;
    let moto = wait_for_ready(&mut child, &log).await?;
    check_health(&moto).await?;
    let pid = child.id().expect("a running child has a pid") as i32;

    let proxy_log = create_log(&state_dir.join("proxy.log"))?;
    let mut proxy_child = Command::new(&proxy.program)
        .args(&proxy.args)
        .args([
            "--listen",
            &endpoint.port().to_string(),
            "--upstream",
            moto.as_str(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(proxy_log)
        .process_group(0)
        .spawn()
        .map_err(SandboxError::Spawn)?;
    let ready = wait_for_ready(&mut proxy_child, &state_dir.join("proxy.log")).await?;
    let proxy_pid = proxy_child.id().expect("a running child has a pid") as i32;
    if !ProxyClient::new(ready.as_str()).healthy().await {
        return Err(SandboxError::Unhealthy {
            endpoint: ready,
            reason: "the proxy does not answer its control API".to_owned(),
        });
    }
    let state = DetachedState {
        pid,
        endpoint: ready,
        log,
        moto,
        proxy_pid,
    };
    write_state(state_dir, &state)?;
    Ok((state, Started::New))
}

/// Stop the server and proxy recorded in `state_dir`, if any. Idempotent; returns what was
/// stopped.
pub async fn stop_detached(state_dir: &Path) -> Result<Option<DetachedState>, SandboxError> {
    let Some(state) = read_state(state_dir)? else {
        return Ok(None);
    };
    if is_our_proxy(state.proxy_pid) {
        terminate(state.proxy_pid).await?;
    }
    if is_our_launcher(state.pid) {
        terminate(state.pid).await?;
    }
    remove_state(state_dir)?;
    Ok(Some(state))
}

/// The server recorded in `state_dir`, if it and its proxy are still running.
pub fn running_detached(state_dir: &Path) -> Result<Option<DetachedState>, SandboxError> {
    Ok(read_state(state_dir)?.filter(|s| is_our_launcher(s.pid) && is_our_proxy(s.proxy_pid)))
}

/// Forget every resource in every account (moto's reset); the server keeps running.
pub async fn reset(endpoint: &Endpoint) -> Result<(), SandboxError> {
    let (status, body) = http(endpoint, "POST", "/moto-api/reset").await?;
    if status == 200 {
        Ok(())
    } else {
        Err(SandboxError::Unhealthy {
            endpoint: endpoint.clone(),
            reason: format!("reset answered HTTP {status}: {}", truncate(&body)),
        })
    }
}

/// Probe moto's own dashboard page; healthy means HTTP 200. (Not `/moto-api/data.json`:
/// it serialises every resource of every account, which is slow and breaks on some.)
pub async fn check_health(endpoint: &Endpoint) -> Result<(), SandboxError> {
    let (status, body) = http(endpoint, "GET", "/moto-api/").await?;
    if status == 200 {
        Ok(())
    } else {
        Err(SandboxError::Unhealthy {
            endpoint: endpoint.clone(),
            reason: format!("HTTP {status}: {}", truncate(&body)),
        })
    }
}

async fn wait_for_ready(child: &mut Child, log: &Path) -> Result<Endpoint, SandboxError> {
    let not_ready = |reason: String| SandboxError::NotReady {
        reason,
        log: log.to_owned(),
    };
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(READY_TIMEOUT, lines.next_line())
        .await
        .map_err(|_| not_ready(format!("no READY line within {READY_TIMEOUT:?}")))?
        .map_err(|e| not_ready(format!("reading its output: {e}")))?;
    let Some(line) = line else {
        let status = child.wait().await.ok();
        return Err(not_ready(format!(
            "it exited ({status:?}) before listening; is the port taken?"
        )));
    };
    let port = line
        .strip_prefix("READY ")
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|port| port.parse::<u16>().ok())
        .ok_or_else(|| not_ready(format!("unexpected output {line:?}")))?;
    Ok(Endpoint::loopback(port))
}

/// SIGTERM, then SIGKILL after a grace period; returns once the process is gone.
async fn terminate(pid: i32) -> Result<(), SandboxError> {
    let target = Pid::from_raw(pid);
    let stop_error = |reason: String| SandboxError::Stop { pid, reason };
    match kill(target, Signal::SIGTERM) {
        Ok(()) => {}
        Err(nix::errno::Errno::ESRCH) => return Ok(()),
        Err(e) => return Err(stop_error(e.to_string())),
    }
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if !is_alive(pid) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = kill(target, Signal::SIGKILL);
    tokio::time::sleep(Duration::from_millis(200)).await;
    if is_alive(pid) {
        Err(stop_error("still alive after SIGKILL".to_owned()))
    } else {
        Ok(())
    }
}

/// Alive and not a zombie. A zombie is our own un-reaped child: it is gone for every
/// purpose but `kill(pid, 0)`.
fn is_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Whether `pid` is alive and runs our launcher script: a pid from an old state file may
/// have been recycled by an unrelated process, which we must never signal.
fn is_our_launcher(pid: i32) -> bool {
    command_line(pid)
        .is_some_and(|args| args.iter().any(|arg| arg.ends_with("sandbox/launcher.py")))
}

/// Whether `pid` is alive and runs the sandbox's proxy (`drctl-sandbox proxy --listen …`).
fn is_our_proxy(pid: i32) -> bool {
    command_line(pid).is_some_and(|args| {
        args.windows(2)
            .any(|w| w[0].ends_with("drctl-sandbox") && w[1] == "proxy")
    })
}

fn command_line(pid: i32) -> Option<Vec<String>> {
    if pid <= 0 || !is_alive(pid) {
        return None;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        cmdline
            .split(|b| *b == 0)
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect(),
    )
}

/// A minimal HTTP/1.0 request to the sandbox: enough for moto's own API, without pulling an
/// HTTP client into the build for two calls.
async fn http(
    endpoint: &Endpoint,
    method: &str,
    path: &str,
) -> Result<(u16, String), SandboxError> {
    let endpoint = endpoint.clone();
    let method = method.to_owned();
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let unhealthy = |reason: String| SandboxError::Unhealthy {
            endpoint: endpoint.clone(),
            reason,
        };
        let address = format!("127.0.0.1:{}", endpoint.port());
        let mut stream = TcpStream::connect_timeout(
            &address.parse().expect("a loopback socket address"),
            Duration::from_secs(5),
        )
        .map_err(|e| unhealthy(format!("connect {address}: {e}")))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| unhealthy(e.to_string()))?;
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: {address}\r\nContent-Length: 0\r\n\r\n"
        )
        .map_err(|e| unhealthy(format!("send: {e}")))?;
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .map_err(|e| unhealthy(format!("read: {e}")))?;
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| unhealthy(format!("not an HTTP response: {}", truncate(&response))))?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    })
    .await
    .expect("the HTTP probe does not panic")
}

fn truncate(text: &str) -> String {
    text.chars().take(200).collect()
}

fn create_log(path: &Path) -> Result<std::fs::File, SandboxError> {
    let state_error = |source| SandboxError::State {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(state_error)?;
    }
    std::fs::File::create(path).map_err(state_error)
}

fn state_file(state_dir: &Path) -> PathBuf {
    state_dir.join("sandbox.json")
}

fn read_state(state_dir: &Path) -> Result<Option<DetachedState>, SandboxError> {
    let path = state_file(state_dir);
    match std::fs::read_to_string(&path) {
        // A state file we cannot parse is stale debris from another version: treat it as absent.
        Ok(text) => Ok(serde_json::from_str(&text).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SandboxError::State { path, source }),
    }
}

fn write_state(state_dir: &Path, state: &DetachedState) -> Result<(), SandboxError> {
    let path = state_file(state_dir);
    let text = serde_json::to_string_pretty(state).expect("state serialises");
    std::fs::write(&path, text).map_err(|source| SandboxError::State { path, source })
}

fn remove_state(state_dir: &Path) -> Result<(), SandboxError> {
    let path = state_file(state_dir);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(SandboxError::State { path, source }),
    }
}
