//! `drctl whoami`: resolve both sides' identities through the session layer.

use dr_aws::AwsSession;
use dr_core::Topology;

pub(crate) async fn run(topology: &Topology) -> anyhow::Result<()> {
    let session = AwsSession::connect(topology, "drctl").await;
    for line in dr_aws::identity::whoami(&session, topology).await? {
        println!("{line}");
    }
    Ok(())
}
