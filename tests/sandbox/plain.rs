//! drctl speaks plainly: each failure a person sees is one line naming the side, region,
//! service and cause in words, with the exit code an operator's script can rely on; and
//! the sandbox's own tool says only what it did.

use std::process::Output;

use crate::cli::command_for;
use crate::e2e::repo_root;
use crate::helpers::free_port;

/// Run `program` on `t` with extra environment `env`.
async fn run(program: &str, t: &dr_core::Topology, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = command_for(program, &repo_root().join("config/sandbox.toml"), t);
    for (key, value) in env {
        command.env(key, value);
    }
    command.args(args).output().await.unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What a person's terminal must never show: the SDK's Debug chains, its log lines, colour
/// codes.
fn assert_plain(stderr: &str) {
    for noise in [
        "DispatchFailure",
        "ProviderError",
        "StatusCode(",
        "WARN",
        "\u{1b}[",
    ] {
        assert!(!stderr.contains(noise), "{noise:?} in:\n{stderr}");
    }
}

#[tokio::test]
async fn whoami_with_a_role_that_does_not_exist_says_so_in_one_line() {
    let p = crate::pipeline::Pipeline::new().await;
    let role = format!(
        "arn:aws:iam::{}:role/no-such-role",
        p.topology.dr.account_id
    );
    let out = run(
        "drctl",
        &p.topology,
        &[("DRCTL__DR__ROLE_ARN", &role)],
        &["whoami"],
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "drctl: dr {} STS: role {role} does not exist or does not trust this caller",
            p.topology.dr.region
        )
    );
    assert_plain(&stderr);

    // --verbose keeps the whole chain for whoever asks.
    let out = run(
        "drctl",
        &p.topology,
        &[("DRCTL__DR__ROLE_ARN", &role)],
        &["whoami", "--verbose"],
    )
    .await;
    assert!(
        text(&out.stderr).contains("the SDK's error"),
        "{}",
        text(&out.stderr)
    );

    // status: every DR section says the same one line; ATTENTION says it once.
    let out = run(
        "drctl",
        &p.topology,
        &[("DRCTL__DR__ROLE_ARN", &role)],
        &["status"],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    let refused = format!("role {role} does not exist or does not trust this caller");
    assert!(
        stdout.contains(&format!("dr {} SQS: {refused}", p.topology.dr.region)),
        "{stdout}"
    );
    let attention: Vec<&str> = stdout
        .lines()
        .skip_while(|l| *l != "ATTENTION")
        .skip(1)
        .filter(|l| l.contains(&refused))
        .collect();
    assert_eq!(attention.len(), 1, "one line per cause:\n{stdout}");
    assert!(attention[0].contains("replication") && attention[0].contains("snapshots"));
    assert!(!stdout.contains("Error {"), "{stdout}");
    assert_plain(&text(&out.stderr));
}

#[tokio::test]
async fn whoami_with_nothing_listening_says_nothing_answers() {
    let mut t = crate::helpers::topology_for(&crate::helpers::shared_endpoint());
    let port = free_port();
    t.sandbox.as_mut().unwrap().endpoint = format!("http://127.0.0.1:{port}").parse().unwrap();
    let out = run("drctl", &t, &[], &["whoami"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "drctl: primary {} STS: nothing answers at 127.0.0.1:{port} (connection refused)",
            t.primary.region
        )
    );
    assert_plain(&stderr);
}

#[tokio::test]
async fn provisioning_again_changes_nothing_and_the_outage_table_names_real_regions() {
    let t = crate::helpers::topology_for(&crate::helpers::shared_endpoint());
    let state = tempfile::tempdir().unwrap();
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let env = [
        ("DRCTL_SANDBOX_DIR", state.path().to_str().unwrap()),
        ("DRCTL__SANDBOX__ENDPOINT", endpoint.as_str()),
    ];
    let first = run("drctl-sandbox", &t, &env, &["up"]).await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stdout).contains("created"),
        "{}",
        text(&first.stdout)
    );
    let again = run("drctl-sandbox", &t, &env, &["up"]).await;
    let stdout = text(&again.stdout);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        !stdout
            .lines()
            .any(|l| l.starts_with("created") || l.starts_with("updated")),
        "provisioning again changed something:\n{stdout}"
    );

    for args in [
        &["outage", "start", "--scope", "primary", "--mode", "refuse"][..],
        &["outage", "end", "--scope", "primary"][..],
    ] {
        let out = run("drctl-sandbox", &t, &env, args).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        if args[1] == "start" {
            // A call into the outage, so the table has a row.
            let _ = run(
                "drctl",
                &t,
                &[("DRCTL__SANDBOX__ENDPOINT", endpoint.as_str())],
                &["whoami"],
            )
            .await;
            let status = run("drctl-sandbox", &t, &env, &["outage", "status"]).await;
            let table = text(&status.stdout);
            assert!(table.contains(t.primary.region.as_str()), "{table}");
            assert!(!table.contains("unknown unknown"), "{table}");
        }
    }
    let down = run("drctl-sandbox", &t, &env, &["down"]).await;
    assert!(down.status.success(), "{}", text(&down.stderr));
}
