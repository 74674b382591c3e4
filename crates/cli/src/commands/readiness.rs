//! `drctl readiness`: is DR ready to take over? Exit 1 when any check fails.

use dr_aws::readiness::{check_all, Verdict};
use dr_aws::AwsSession;
use dr_core::Topology;
use serde_json::json;

use crate::output::Output;

pub(crate) async fn run(output: Output, topology: &Topology) -> anyhow::Result<()> {
    let session = AwsSession::connect(topology, "drctl").await;
    let checks = check_all(&session, topology).await;
    let label = |v: Verdict| match v {
        Verdict::Ok => "ok",
        Verdict::Warn => "warn",
        Verdict::Fail => "FAIL",
    };
    match output {
        Output::Json => {
            let rows: Vec<_> = checks
                .iter()
                .map(|c| json!({"check": c.name, "verdict": label(c.verdict).to_lowercase(), "detail": c.detail}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&rows)?);
        }
        Output::Table => {
            for c in &checks {
                println!("{:<5} {:<32} {}", label(c.verdict), c.name, c.detail);
            }
        }
    }
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    anyhow::ensure!(failed == 0, "{failed} readiness check(s) failed");
    Ok(())
}
