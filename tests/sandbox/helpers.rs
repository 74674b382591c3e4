//! Test helpers: the shared sandbox server, a topology pointing at it, unique names, and
//! sessions as each principal holds them: the administrator for fixtures and for what
//! plays AWS, a function's roles for the code a Lambda runs, the operator for drctl's.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use dr_aws::AwsSession;
use dr_core::{Endpoint, Topology};
use dr_sandbox::{LauncherPaths, SandboxServer};

/// The endpoint of the sandbox shared by every test of this binary (its IAM-enforcing
/// proxy), started on first use.
///
/// The server is owned by a thread with its own runtime that lives as long as the test
/// process, so it outlives each test's runtime (and so does its proxy, on that runtime);
/// when the process exits, the launcher sees its stdin close and exits too, so no server
/// survives the run.
pub(crate) fn shared_endpoint() -> Endpoint {
    static ENDPOINT: OnceLock<Endpoint> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the sandbox owner");
                runtime.block_on(async move {
                    let log = std::env::temp_dir()
                        .join(format!("drctl-test-sandbox-{}.log", std::process::id()));
                    let server = SandboxServer::start(&LauncherPaths::from_build(), &log)
                        .await
                        .expect("the sandbox starts (run `make setup` first)");
                    tx.send(server.endpoint().clone()).expect("the test waits");
                    // Hold the server for the life of the process.
                    std::future::pending::<()>().await;
                    drop(server);
                });
            });
            rx.recv().expect("the sandbox owner reports its endpoint")
        })
        .clone()
}

/// The committed sandbox topology, pointed at `endpoint`, in an IAM world of its own (so
/// that tests whose topologies differ never share a role's policy).
pub(crate) fn topology_for(endpoint: &Endpoint) -> Topology {
    Topology::parse(
        include_str!("../../config/sandbox.toml"),
        "config/sandbox.toml",
        [
            (
                "DRCTL__SANDBOX__ENDPOINT".to_owned(),
                endpoint.as_str().to_owned(),
            ),
            ("DRCTL__SANDBOX__WORLD".to_owned(), unique("w")),
        ],
    )
    .expect("the committed sandbox config is valid")
}

/// The administrator's session on the shared sandbox (fixtures, what plays AWS), with the
/// committed topology.
pub(crate) async fn shared_session() -> (AwsSession, Topology) {
    let topology = topology_for(&shared_endpoint());
    (admin(&topology).await, topology)
}

/// The administrator's session: not evaluated by the sandbox's IAM.
pub(crate) async fn admin(topology: &Topology) -> AwsSession {
    AwsSession::connect(&dr_sandbox::identity::as_admin(topology), "sandbox-tests").await
}

/// The session the Lambda `function` holds: its execution role, then its own role on each
/// side (the topology's world must be provisioned).
pub(crate) async fn as_function(topology: &Topology, function: &str) -> AwsSession {
    AwsSession::connect(
        &dr_sandbox::identity::as_function(topology, function),
        function,
    )
    .await
}

/// drctl's session: the operators' principal, then the topology's `role_arn`s.
pub(crate) async fn as_operator(topology: &Topology) -> AwsSession {
    AwsSession::connect(&dr_sandbox::identity::as_operator(topology), "drctl").await
}

/// A name no other test in this run uses: `<prefix>-<pid>-<n>`.
pub(crate) fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether a process is alive (and not a zombie awaiting its parent).
pub(crate) fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            !matches!(state.and_then(|s| s.chars().next()), Some('Z' | 'X') | None)
        })
        .unwrap_or(false)
}

/// A loopback port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("the kernel hands out a free port")
}
