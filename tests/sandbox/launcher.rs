//! The sandbox launcher: healthy when started, nothing left when stopped, idempotent.

use std::time::Duration;

use dr_core::Endpoint;
use dr_sandbox::launcher::{self, ProxyCommand, Started};
use dr_sandbox::{LauncherPaths, SandboxServer};

use crate::helpers::{free_port, process_alive};

#[tokio::test]
async fn start_is_healthy_and_stop_leaves_no_process() {
    let dir = tempfile::tempdir().unwrap();
    let server = SandboxServer::start(&LauncherPaths::from_build(), &dir.path().join("moto.log"))
        .await
        .unwrap();
    let pid = server.pid().unwrap();
    let endpoint = server.endpoint().clone();
    assert!(process_alive(pid));
    launcher::check_health(&endpoint).await.unwrap();

    server.stop().await.unwrap();

    assert!(!process_alive(pid), "pid {pid} survived stop");
    assert!(
        launcher::check_health(&endpoint).await.is_err(),
        "{endpoint} still answers"
    );
}

#[tokio::test]
async fn dropping_the_handle_leaves_no_process() {
    let dir = tempfile::tempdir().unwrap();
    let server = SandboxServer::start(&LauncherPaths::from_build(), &dir.path().join("moto.log"))
        .await
        .unwrap();
    let pid = server.pid().unwrap();

    drop(server);

    // kill_on_drop signals at once; the kernel may take a moment to tear the process down.
    for _ in 0..100 {
        if !process_alive(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("pid {pid} survived dropping its handle");
}

#[tokio::test]
async fn detached_start_is_idempotent_and_stop_leaves_no_process() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::loopback(free_port());
    let paths = LauncherPaths::from_build();

    let proxy = ProxyCommand {
        program: crate::e2e::binary("drctl-sandbox"),
        args: vec!["proxy".to_owned()],
    };

    let (first, started) = launcher::start_detached(&paths, &endpoint, dir.path(), &proxy)
        .await
        .unwrap();
    assert_eq!(started, Started::New);
    assert_eq!(
        first.endpoint, endpoint,
        "clients go to the proxy, on the config's port"
    );
    assert_ne!(first.moto, endpoint);
    launcher::check_health(&first.endpoint).await.unwrap();

    let (second, started) = launcher::start_detached(&paths, &endpoint, dir.path(), &proxy)
        .await
        .unwrap();
    assert_eq!(started, Started::AlreadyRunning);
    assert_eq!((second.pid, second.proxy_pid), (first.pid, first.proxy_pid));

    let stopped = launcher::stop_detached(dir.path()).await.unwrap();
    assert_eq!(stopped.map(|s| s.pid), Some(first.pid));
    for pid in [first.pid, first.proxy_pid] {
        assert!(!process_alive(pid as u32), "pid {pid} survived");
    }
    assert!(launcher::stop_detached(dir.path()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_missing_venv_says_to_run_make_setup() {
    let dir = tempfile::tempdir().unwrap();
    let paths = LauncherPaths::in_repo(dir.path());
    let error = SandboxServer::start(&paths, &dir.path().join("moto.log"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("make setup"), "{error}");
}
