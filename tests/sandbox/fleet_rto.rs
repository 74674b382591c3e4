//! The fleet's RTO in `drctl readiness`, under the operators' IAM: modelled from DR's IoT
//! quotas as Service Quotas answers them, judged against `[objectives] rto_seconds`, and
//! each of DR's quotas compared with primary's. Fails on plain moto: it knows no `iotcore`
//! quota and has no GetAWSDefaultServiceQuota.

use serde_json::{json, Value};

use crate::cli::command_for;
use crate::e2e::repo_root;

/// `drctl readiness --output json` with config overrides in `env`.
async fn readiness(t: &dr_core::Topology, env: &[(&str, &str)]) -> Value {
    let output = command_for("drctl", &repo_root().join("config/sandbox.toml"), t)
        .args(["readiness", "--output", "json"])
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&output.stderr)))
}

/// The verdict and detail of the check `name`.
fn check(report: &Value, name: &str) -> (String, String) {
    let found = report["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["subject"] == name)
        .unwrap_or_else(|| panic!("{name} in {report:#}"));
    (
        found["kind"].as_str().unwrap().to_owned(),
        found["detail"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn readiness_models_the_fleet_rto_from_dr_s_quotas_and_names_each_quota_to_raise() {
    // Given DR's account has less connect rate than primary's (100/s against 3,000/s) and
    // room for only 150 connections, as Service Quotas would answer for each account
    let (primary, dr) = ("111111111111", "222222222222");
    let applied = json!({
        dr: {"iotcore/L-AEA1E176": 100, "iotcore/L-75CAB723": 150},
        primary: {"iotcore/L-AEA1E176": 3000},
    });
    let log = std::env::temp_dir().join(format!("{}.log", crate::helpers::unique("quotas")));
    let server = dr_sandbox::SandboxServer::start_with(
        &dr_sandbox::LauncherPaths::from_build(),
        &log,
        &[("DRCTL_SANDBOX_SERVICE_QUOTAS", &applied.to_string())],
    )
    .await
    .unwrap();
    let p = crate::pipeline::Pipeline::on(server.endpoint()).await;
    assert_eq!(p.topology.primary.account_id.as_str(), primary);

    // When a fleet of 100 wearables is checked
    let report = readiness(&p.topology, &[("DRCTL__FLEET__DEVICES", "100")]).await;

    // Then the model uses DR's applied connect rate and judges the figures against the
    // objective, and the comparison names each quota DR has below primary
    let (kind, detail) = check(&report, "fleet RTO");
    assert_eq!(kind, "ok", "{detail}");
    assert!(
        detail.contains("100 devices connected in DR: 50% ")
            && detail.contains("100 CONNECTs admitted/s; 150 concurrent connections")
            && detail.contains("within the 600 s objective"),
        "{detail}"
    );
    let (kind, detail) = check(&report, "IoT quotas DR vs primary");
    assert_eq!(kind, "FAIL", "{detail}");
    assert!(
        detail.contains(
            "L-AEA1E176 (Connect requests per second per account) is 100 in DR, 3000 in primary"
        ) && detail.contains("L-75CAB723"),
        "{detail}"
    );
    assert!(!detail.contains("L-589D5E1D"), "{detail}");

    // When the fleet outgrows DR's connections, or the objective is tighter than the model
    let report = readiness(&p.topology, &[("DRCTL__FLEET__DEVICES", "200")]).await;
    let (kind, detail) = check(&report, "fleet RTO");
    assert_eq!(kind, "FAIL", "{detail}");
    assert!(detail.contains("raise L-75CAB723"), "{detail}");
    let report = readiness(
        &p.topology,
        &[
            ("DRCTL__FLEET__DEVICES", "100"),
            ("DRCTL__OBJECTIVES__RTO_SECONDS", "60"),
        ],
    )
    .await;
    let (kind, detail) = check(&report, "fleet RTO");
    // Then each fails, saying what to change: DNS alone takes longer than 60 s here
    assert_eq!(kind, "FAIL", "{detail}");
    assert!(detail.contains("over the 60 s objective"), "{detail}");
}
