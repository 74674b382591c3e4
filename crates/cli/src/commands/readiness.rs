//! `drctl readiness`: is DR ready to take over? Exit 0 when it is, 1 when a check of DR
//! fails, 4 when DR's own checks pass but primary could not be read to compare with (as
//! during an outage: DR's verdicts stand, the comparison waits).

use dr_aws::readiness::{self, Verdict};
use dr_aws::AwsSession;
use dr_core::Topology;

use crate::output::{self, Output};
use crate::Exit;

pub(crate) async fn run(output: Output, topology: &Topology) -> anyhow::Result<()> {
    let session = AwsSession::connect(topology, "drctl").await;
    let report = readiness::readiness(&session, topology).await;
    output::print(&report, output);
    let (failed, unknown) = (report.count(Verdict::Fail), report.count(Verdict::Unknown));
    if failed > 0 {
        return Err(Exit::new(1, format!("{failed} readiness check(s) failed")).into());
    }
    if unknown > 0 {
        return Err(Exit::new(
            4,
            format!(
                "DR's own checks pass; {unknown} check(s) UNKNOWN: primary {} could not be read to compare with",
                topology.primary.region
            ),
        )
        .into());
    }
    Ok(())
}
