//! The session layer reaches two isolated accounts through AssumeRole.

use aws_sdk_iot::error::ProvideErrorMetadata;
use dr_core::Side;

use crate::helpers::{shared_session, unique};

#[tokio::test]
async fn assuming_each_role_lands_in_its_own_account() {
    let (session, topology) = shared_session().await;

    let primary = session
        .sts(Side::Primary)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    let dr = session
        .sts(Side::Dr)
        .get_caller_identity()
        .send()
        .await
        .unwrap();

    assert_eq!(
        primary.account(),
        Some(topology.primary.account_id.as_str())
    );
    assert_eq!(dr.account(), Some(topology.dr.account_id.as_str()));
    assert_ne!(primary.account(), dr.account());
    assert!(
        primary
            .arn()
            .unwrap()
            .contains(":assumed-role/dr-control-plane/"),
        "{:?}",
        primary.arn()
    );
}

#[tokio::test]
async fn an_iot_thing_created_in_one_account_is_invisible_in_the_other() {
    let (session, _) = shared_session().await;
    let thing = unique("isolation-thing");

    session
        .iot(Side::Primary)
        .create_thing()
        .thing_name(&thing)
        .send()
        .await
        .unwrap();

    let seen_in_primary = session
        .iot(Side::Primary)
        .describe_thing()
        .thing_name(&thing)
        .send()
        .await
        .unwrap();
    assert_eq!(seen_in_primary.thing_name(), Some(thing.as_str()));

    let seen_in_dr = session
        .iot(Side::Dr)
        .describe_thing()
        .thing_name(&thing)
        .send()
        .await;
    let error = seen_in_dr.expect_err("DR must not see primary's thing");
    assert_eq!(error.code(), Some("ResourceNotFoundException"), "{error:?}");

    let listed_in_dr = session.iot(Side::Dr).list_things().send().await.unwrap();
    assert!(listed_in_dr
        .things()
        .iter()
        .all(|t| t.thing_name() != Some(thing.as_str())));
}
