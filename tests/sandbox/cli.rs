//! `drctl` as an operator runs it: the real binary against the sandbox.

use dr_core::FlipMode;
use serde_json::Value;

use crate::e2e::{binary, repo_root};
use crate::failover::World;
use crate::primary_endpoint::PrimaryEndpoint;

/// Run `drctl` with the world's topology (its own failover resources and DNS record).
async fn drctl(world: &World, args: &[&str]) -> (bool, String, String) {
    let t = &world.topology;
    let output = tokio::process::Command::new(binary("drctl"))
        .args(args)
        .current_dir(repo_root())
        .env("DRCTL_CONFIG", repo_root().join("config/sandbox.toml"))
        .env(
            "DRCTL__SANDBOX__ENDPOINT",
            t.sandbox.as_ref().unwrap().endpoint.as_str(),
        )
        .env(
            "DRCTL__FAILOVER__STATE_TABLE",
            t.failover.state_table.as_str(),
        )
        .env(
            "DRCTL__FAILOVER__OPERATOR_TOPIC",
            t.failover.operator_topic.as_str(),
        )
        .env("DRCTL__DNS__RECORD", t.dns.record.as_str())
        .env("DRCTL__DNS__DRILL_RECORD", t.dns.drill_record.as_str())
        .env("USER", "oncall")
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn status_shows_a_held_failed_over_fleet_as_a_table_and_as_json() {
    let endpoint = PrimaryEndpoint::start().await;
    let world = World::new(&endpoint, FlipMode::DataPlane).await;
    let (ok, _, stderr) = drctl(&world, &["failover", "--yes", "--reason", "cli test"]).await;
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = drctl(&world, &["hold", "--reason", "investigating"]).await;
    assert!(ok, "{stderr}");

    let (ok, stdout, stderr) = drctl(&world, &["status", "--output", "json"]).await;
    assert!(ok, "{stderr}");
    let status: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["traffic"]["state_says"], "dr", "{status:#}");
    assert_eq!(status["traffic"]["dns_says"], "dr", "{status:#}");
    assert_eq!(status["health"]["mode"], "failed-over");
    assert_eq!(status["health"]["hold"]["by"], "oncall");
    assert!(status["certificates"]["primary"].is_object(), "{status:#}");
    assert!(
        status["replication"]["queue"]["waiting"].is_u64(),
        "{status:#}"
    );
    assert!(status["snapshots"].is_array(), "{status:#}");

    let (ok, stdout, stderr) = drctl(&world, &["status"]).await;
    assert!(ok, "{stderr}");
    for expected in [
        "TRAFFIC",
        "serving dr (state) / dr (DNS",
        "HELD by oncall: investigating",
        "REPLICATION",
        "SNAPSHOTS",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }

    // Destructive commands refuse to run unconfirmed from a script.
    let (ok, _, stderr) = drctl(&world, &["failback"]).await;
    assert!(!ok && stderr.contains("--yes"), "{stderr}");
}
