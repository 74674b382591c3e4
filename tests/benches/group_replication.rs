//! Calls per replicated thing-group change (and provisioning-template change), on each side: what capture reads in primary and
//! what the replicator calls in DR (IoT only; one ledger read and one write per message
//! come on top), for each kind of change an operator or a provisioning flow makes, in the
//! sandbox under the functions' roles. Then the time from the change to DR holding it, per
//! change, through capture → SNS → SQS → apply (no Lambda cold starts). A timed harness;
//! `make bench` prints the table.

use std::time::Instant;

use dr_aws::bus::SnsBus;
use dr_aws::iot::IotRegistry;
use dr_aws::ledger::DynamoLedger;
use dr_aws::{names, AwsSession};
use dr_core::replication::message::SourceRef;
use dr_core::replication::service::capture_and_publish;
use dr_core::replication::ArnRewrite;
use dr_core::Side;
use dr_sandbox::events::EventSource;
use dr_sandbox::identity::{as_admin, as_function};
use dr_sandbox::{LauncherPaths, SandboxServer};
use sandbox_tests::deliver_batch;
use serde_json::{json, Value};

#[tokio::main]
async fn main() {
    let log = std::env::temp_dir().join(format!("drctl-bench-groups-{}.log", std::process::id()));
    let server = SandboxServer::start(&LauncherPaths::from_build(), &log)
        .await
        .expect("the sandbox starts (run `make setup`)");
    let t = sandbox_tests::sandbox_topology(server.endpoint().as_str());
    dr_sandbox::provision(&t).await.unwrap();
    let admin = AwsSession::connect(&as_admin(&t), "bench").await;
    let capture = AwsSession::connect(&as_function(&t, "cert-capture"), "bench").await;
    let replicator = AwsSession::connect(&as_function(&t, "cert-replicator"), "bench").await;
    let primary = IotRegistry::for_side(&capture, &t, Side::Primary);
    let dr = IotRegistry::replication_target(&replicator, &t);
    let bus = SnsBus::for_replication(&capture, &t);
    let ledger = DynamoLedger::new(
        replicator.dynamodb(Side::Dr),
        t.replication.ledger_table.as_str(),
    );
    let rewrite = ArnRewrite::primary_to_dr(&t);
    let sqs = admin.sqs(Side::Dr);
    let queue_url = sandbox_tests::queue_url(&sqs, &names::replication_queue_name(&t)).await;
    let source = SourceRef::of(&t, Side::Primary);
    let events = EventSource {
        account: t.primary.account_id.to_string(),
        region: t.primary.region.to_string(),
    };
    let iot = admin.iot(Side::Primary);
    let group_arn = |name: &str| {
        format!(
            "arn:aws:iot:{}:{}:thinggroup/{name}",
            t.primary.region, t.primary.account_id
        )
    };
    iot.create_policy()
        .policy_name("bench-ward")
        .policy_document(json!({"Version": "2012-10-17", "Statement": []}).to_string())
        .send()
        .await
        .unwrap();
    iot.create_thing()
        .thing_name("bench-wearable")
        .send()
        .await
        .unwrap();

    println!(
        "| change | primary IoT calls (capture) | DR IoT calls (apply) | change → applied in DR |"
    );
    println!("|---|---:|---:|---:|");
    let steps: Vec<(&str, Value)> = vec![
        (
            "CreateThingGroup",
            json!({"thingGroupName": "bench-hospital"}),
        ),
        (
            "CreateThingGroup",
            json!({"thingGroupName": "bench-ward", "parentGroupName": "bench-hospital"}),
        ),
        (
            "AttachPolicy",
            json!({"policyName": "bench-ward", "target": group_arn("bench-ward")}),
        ),
        (
            "AddThingToThingGroup",
            json!({"thingGroupName": "bench-ward", "thingName": "bench-wearable"}),
        ),
        ("UpdateThingGroup", json!({"thingGroupName": "bench-ward"})),
        (
            "RemoveThingFromThingGroup",
            json!({"thingGroupName": "bench-ward", "thingName": "bench-wearable"}),
        ),
        ("DeleteThingGroup", json!({"thingGroupName": "bench-ward"})),
        (
            "CreateProvisioningTemplate",
            json!({"templateName": "bench-enrol"}),
        ),
        (
            "CreateProvisioningTemplateVersion",
            json!({"templateName": "bench-enrol"}),
        ),
        (
            "UpdateProvisioningTemplate",
            json!({"templateName": "bench-enrol"}),
        ),
        (
            "DeleteProvisioningTemplate",
            json!({"templateName": "bench-enrol"}),
        ),
    ];
    let template_body = |marker: u32| {
        json!({"Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "Properties": {
                "ThingName": {"Ref": "AWS::IoT::Certificate::Id"},
                "AttributePayload": {"revision": marker.to_string()}}},
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "bench-ward"}}}})
        .to_string()
    };
    for (call, request) in steps {
        let started = Instant::now();
        match call {
            "CreateThingGroup" => {
                iot.create_thing_group()
                    .thing_group_name(request["thingGroupName"].as_str().unwrap())
                    .set_parent_group_name(request["parentGroupName"].as_str().map(str::to_owned))
                    .send()
                    .await
                    .unwrap();
            }
            "AttachPolicy" => {
                iot.attach_policy()
                    .policy_name("bench-ward")
                    .target(group_arn("bench-ward"))
                    .send()
                    .await
                    .unwrap();
            }
            "AddThingToThingGroup" => {
                iot.add_thing_to_thing_group()
                    .thing_group_name("bench-ward")
                    .thing_name("bench-wearable")
                    .send()
                    .await
                    .unwrap();
            }
            "UpdateThingGroup" => {
                iot.update_thing_group()
                    .thing_group_name("bench-ward")
                    .thing_group_properties(
                        aws_sdk_iot::types::ThingGroupProperties::builder()
                            .thing_group_description("ward, floor 3")
                            .build(),
                    )
                    .send()
                    .await
                    .unwrap();
            }
            "RemoveThingFromThingGroup" => {
                iot.remove_thing_from_thing_group()
                    .thing_group_name("bench-ward")
                    .thing_name("bench-wearable")
                    .send()
                    .await
                    .unwrap();
            }
            "DeleteThingGroup" => {
                iot.delete_thing_group()
                    .thing_group_name("bench-ward")
                    .send()
                    .await
                    .unwrap();
            }
            "CreateProvisioningTemplate" => {
                iot.create_provisioning_template()
                    .template_name("bench-enrol")
                    .template_body(template_body(0))
                    .enabled(true)
                    .provisioning_role_arn(format!(
                        "arn:aws:iam::{}:role/iot-provisioning",
                        t.primary.account_id
                    ))
                    .send()
                    .await
                    .unwrap();
            }
            "CreateProvisioningTemplateVersion" => {
                iot.create_provisioning_template_version()
                    .template_name("bench-enrol")
                    .template_body(template_body(1))
                    .set_as_default(true)
                    .send()
                    .await
                    .unwrap();
            }
            "UpdateProvisioningTemplate" => {
                iot.update_provisioning_template()
                    .template_name("bench-enrol")
                    .enabled(false)
                    .send()
                    .await
                    .unwrap();
            }
            "DeleteProvisioningTemplate" => {
                iot.delete_provisioning_template()
                    .template_name("bench-enrol")
                    .send()
                    .await
                    .unwrap();
            }
            _ => unreachable!(),
        }
        let (p0, d0) = (primary.calls(), dr.calls());
        let event = events.api_call(call, request, Value::Null, dr_core::time::now_millis());
        capture_and_publish(&event, &primary, &bus, &source, dr_core::time::now_millis)
            .await
            .unwrap();
        let p1 = primary.calls();
        while let Some(report) = deliver_batch(&sqs, &queue_url, &rewrite, &dr, &ledger).await {
            assert!(report.failed.is_empty(), "{report:?}");
        }
        println!(
            "| {call} | {} | {} | {:.0} ms |",
            p1 - p0,
            dr.calls() - d0,
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    server.stop().await.unwrap();
}
