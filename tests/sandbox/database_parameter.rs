//! Where the application in DR finds its restored database: the SSM parameter path the
//! failover writes under, and the credentials secret it names, as readiness checks them
//! under the operators' role (IAM enforced).

use dr_aws::readiness::{readiness, Check, Verdict};
use dr_core::{Side, Topology};

use crate::helpers::{admin, as_operator, shared_endpoint, topology_for, unique};

async fn database_parameter_check(topology: &Topology) -> Check {
    let operator = as_operator(topology).await;
    // Boxed: every check's future at once is larger than a test thread's stack.
    Box::pin(readiness(&operator, topology))
        .await
        .checks
        .into_iter()
        .find(|c| c.name == "database parameter")
        .expect("readiness has a database parameter check")
}

#[tokio::test]
async fn readiness_proves_the_parameter_path_takes_writes_and_names_an_unreachable_credentials_secret(
) {
    // Given the database's credentials replicated into DR as a secret, named in the config
    let mut topology = topology_for(&shared_endpoint());
    let admin = admin(&topology).await;
    let arn = admin
        .secrets_manager(Side::Dr)
        .create_secret()
        .name(unique("fleetdb-credentials"))
        .secret_string(r#"{"username":"fleet","password":"not-a-real-one"}"#)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    topology.snapshots.databases.truncate(1);
    topology.snapshots.databases[0].credentials_secret_arn = Some(arn.clone());
    let path = format!("/{}/databases", unique("dr"));
    topology.failover.database_parameter_path = path.clone();
    dr_sandbox::provision(&topology).await.unwrap();

    // When readiness runs under the operators' role
    let check = database_parameter_check(&topology).await;

    // Then the path took a write, and the secret answers in DR
    assert_eq!(check.verdict, Verdict::Ok, "{}", check.detail);
    assert!(
        check.detail.contains(&format!("{path}/readiness writable"))
            && check
                .detail
                .contains("credentials secrets reachable for fleetdb"),
        "{}",
        check.detail
    );
    let written = admin
        .ssm(Side::Dr)
        .get_parameter()
        .name(format!("{path}/readiness"))
        .send()
        .await
        .unwrap();
    assert!(written
        .parameter()
        .and_then(|p| p.value())
        .unwrap()
        .contains("drctl readiness"));

    // When the secret is gone from DR, readiness fails naming it
    admin
        .secrets_manager(Side::Dr)
        .delete_secret()
        .secret_id(&arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let check = database_parameter_check(&topology).await;
    assert_eq!(check.verdict, Verdict::Fail, "{}", check.detail);
    assert!(
        check
            .detail
            .contains("fleetdb's credentials secret unreachable in DR"),
        "{}",
        check.detail
    );
}
