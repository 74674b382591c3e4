//! How devices enrol and get credentials, replicated: a fleet-provisioned device (whose
//! provisioning calls CloudTrail never records) reaches DR from its thing-created registry
//! event alone, and role aliases reach DR naming DR's roles.

use aws_sdk_iot::types::CertificateStatus as SdkStatus;
use dr_core::replication::{CertificateRegistry, RoleAliasRegistry, ThingGroupRegistry};
use dr_core::{CertificateId, CertificateStatus, Side};
use serde_json::{json, Value};

use crate::helpers::unique;
use crate::pipeline::Pipeline;
use crate::thing_groups::Wiring;

#[tokio::test]
async fn a_fleet_provisioned_device_reaches_dr_from_its_thing_created_event_alone() {
    let p = Pipeline::new().await;
    let wiring = Wiring::start(&p).await;
    let iot = p.session.iot(Side::Primary);
    let (policy, ward, thing) = (
        unique("fp-policy"),
        unique("fp-ward"),
        unique("fp-wearable"),
    );
    iot.create_policy()
        .policy_name(&policy)
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": "iot:Publish", "Resource": "*"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    iot.create_thing_group()
        .thing_group_name(&ward)
        .send()
        .await
        .unwrap();

    // What AWS IoT does for CreateKeysAndCertificate and RegisterThing over MQTT, with the
    // template's resources: the key goes to the device only, and none of it reaches
    // CloudTrail (device-side calls are not logged there).
    let created = iot
        .create_keys_and_certificate()
        .set_as_active(false)
        .send()
        .await
        .unwrap();
    let id: CertificateId = created.certificate_id().unwrap().parse().unwrap();
    let arn = created.certificate_arn().unwrap().to_owned();
    iot.create_thing().thing_name(&thing).send().await.unwrap();
    iot.attach_thing_principal()
        .thing_name(&thing)
        .principal(&arn)
        .send()
        .await
        .unwrap();
    iot.attach_policy()
        .policy_name(&policy)
        .target(&arn)
        .send()
        .await
        .unwrap();
    iot.update_certificate()
        .certificate_id(id.as_str())
        .new_status(SdkStatus::Active)
        .send()
        .await
        .unwrap();
    iot.add_thing_to_thing_group()
        .thing_group_name(&ward)
        .thing_name(&thing)
        .send()
        .await
        .unwrap();

    let mut published = wiring.registry("CREATED", &thing).await;
    published.sort();
    assert_eq!(
        published,
        vec![format!("cert#{id}"), format!("thing#{thing}")]
    );
    let thing_name = thing.parse().unwrap();
    wiring
        .deliver_until(async || {
            p.dr.certificate(&id)
                .await
                .unwrap()
                .is_some_and(|c| c.status == CertificateStatus::Active)
                && !p
                    .dr
                    .thing_group_names(&thing_name)
                    .await
                    .unwrap()
                    .is_empty()
        })
        .await;
    let in_dr = p.dr.certificate(&id).await.unwrap().unwrap();
    assert_eq!(
        in_dr.pem,
        created.certificate_pem().unwrap(),
        "the same PEM"
    );
    assert!(p
        .dr
        .certificate_things(&id)
        .await
        .unwrap()
        .contains(&thing_name));
    assert!(p
        .dr
        .certificate_policy_names(&id)
        .await
        .unwrap()
        .iter()
        .any(|name| name.as_str() == policy));
    assert!(p
        .dr
        .thing_group_names(&thing_name)
        .await
        .unwrap()
        .iter()
        .any(|g| g.as_str() == ward));
    assert!(p.dead_letters().await.is_empty());
}

#[tokio::test]
async fn a_role_alias_reaches_dr_naming_dr_s_role_and_follows_primary() {
    let p = Pipeline::new().await;
    let iot = p.session.iot(Side::Primary);
    let alias = unique("uploads");
    let role = |account: &dr_core::AccountId| format!("arn:aws:iam::{account}:role/{alias}");
    iot.create_role_alias()
        .role_alias(&alias)
        .role_arn(role(&p.topology.primary.account_id))
        .credential_duration_seconds(3600)
        .send()
        .await
        .unwrap();
    let event = |name: &str| {
        dr_sandbox::events::EventSource {
            account: p.topology.primary.account_id.to_string(),
            region: p.topology.primary.region.to_string(),
        }
        .api_call(
            name,
            json!({"roleAlias": alias}),
            Value::Null,
            dr_core::time::now_millis(),
        )
    };
    let messages = p.capture(&event("CreateRoleAlias")).await;
    assert_eq!(messages[0].subject.key(), format!("rolealias#{alias}"));
    let report = p.drain().await;
    assert!(report.failed.is_empty(), "{report:?}");
    let name = alias.parse().unwrap();
    let in_dr = p.dr.role_alias(&name).await.unwrap().expect("in DR");
    assert_eq!(in_dr.role_arn, role(&p.topology.dr.account_id));
    assert_eq!(in_dr.credential_duration_seconds, 3600);

    iot.update_role_alias()
        .role_alias(&alias)
        .credential_duration_seconds(7200)
        .send()
        .await
        .unwrap();
    p.capture(&event("UpdateRoleAlias")).await;
    p.drain().await;
    assert_eq!(
        p.dr.role_alias(&name)
            .await
            .unwrap()
            .unwrap()
            .credential_duration_seconds,
        7200
    );

    iot.delete_role_alias()
        .role_alias(&alias)
        .send()
        .await
        .unwrap();
    p.capture(&event("DeleteRoleAlias")).await;
    p.drain().await;
    assert!(p.dr.role_alias(&name).await.unwrap().is_none());
}

/// A provisioning template as AWS's fleet-provisioning guide writes one, for `account` in
/// `region`: a thing in `ward`, the certificate, a created policy whose document names an
/// ARN, and `policy` attached by name; `marker` tells the bodies apart.
fn template_body(account: &str, region: &str, ward: &str, policy: &str, marker: u32) -> String {
    let document = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "iot:Connect",
        "Resource": format!("arn:aws:iot:{region}:{account}:client/${{iot:Connection.Thing.ThingName}}")}]});
    json!({
        "Parameters": {"SerialNumber": {"Type": "String"}, "AWS::IoT::Certificate::Id": {"Type": "String"}},
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "Properties": {
                "ThingName": {"Fn::Join": ["", ["wearable-", {"Ref": "SerialNumber"}]]},
                "AttributePayload": {"revision": marker.to_string()},
                "ThingGroups": [ward]}},
            "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {
                "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}},
            "connect": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": document.to_string()}},
            "alerts": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": policy}}
        }
    })
    .to_string()
}

#[tokio::test]
async fn a_provisioning_template_reaches_dr_with_dr_s_arns_and_follows_primary_s_versions() {
    use dr_core::replication::ProvisioningTemplateRegistry;
    let p = Pipeline::new().await;
    let wiring = Wiring::start(&p).await;
    let iot = p.session.iot(Side::Primary);
    let (primary_account, primary_region) = (
        p.topology.primary.account_id.to_string(),
        p.topology.primary.region.to_string(),
    );
    let (dr_account, dr_region) = (
        p.topology.dr.account_id.to_string(),
        p.topology.dr.region.to_string(),
    );
    let (template, policy, ward) = (
        unique("enrol"),
        unique("enrol-alerts"),
        unique("enrol-ward"),
    );
    let body = |marker| template_body(&primary_account, &primary_region, &ward, &policy, marker);
    let role = |account: &str| format!("arn:aws:iam::{account}:role/iot-provisioning");
    let hook = |account: &str, region: &str| {
        format!("arn:aws:lambda:{region}:{account}:function:vet-wearable")
    };
    iot.create_policy()
        .policy_name(&policy)
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": format!("arn:aws:iot:{primary_region}:{primary_account}:topic/alerts/*")}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    iot.create_provisioning_template()
        .template_name(&template)
        .template_body(body(0))
        .enabled(true)
        .provisioning_role_arn(role(&primary_account))
        .pre_provisioning_hook(
            aws_sdk_iot::types::ProvisioningHook::builder()
                .target_arn(hook(&primary_account, &primary_region))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let request = json!({"templateName": template});
    assert_eq!(
        wiring
            .called("CreateProvisioningTemplate", request.clone(), Value::Null)
            .await,
        vec![format!("template#{template}")]
    );
    let name: dr_core::TemplateName = template.parse().unwrap();
    wiring
        .deliver_until(async || p.dr.provisioning_template(&name).await.unwrap().is_some())
        .await;
    let in_dr = p.dr.provisioning_template(&name).await.unwrap().unwrap();
    assert_eq!(in_dr.provisioning_role_arn, role(&dr_account));
    assert_eq!(
        in_dr.pre_provisioning_hook.unwrap().target_arn,
        hook(&dr_account, &dr_region)
    );
    assert!(in_dr.enabled);
    assert!(
        !in_dr.template_body.contains(&primary_account),
        "every ARN in the body is DR's: {}",
        in_dr.template_body
    );
    assert!(in_dr
        .template_body
        .contains(&format!("arn:aws:iot:{dr_region}:{dr_account}:client/")));
    let named = p.dr.policy(&policy.parse().unwrap()).await.unwrap();
    assert!(
        named.is_some_and(|p| p
            .document
            .contains(&format!("{dr_region}:{dr_account}:topic"))),
        "the policy the body names is in DR, naming DR's topics"
    );

    // Primary edits the body again and again, keeping two versions; DR, which receives
    // each as a new default version, must make room under AWS's five-version limit.
    for marker in 1..=6 {
        let created = iot
            .create_provisioning_template_version()
            .template_name(&template)
            .template_body(body(marker))
            .set_as_default(true)
            .send()
            .await
            .unwrap();
        let versions = iot
            .list_provisioning_template_versions()
            .template_name(&template)
            .send()
            .await
            .unwrap();
        for old in versions.versions() {
            let id = old.version_id().unwrap();
            if Some(id) != created.version_id() && id + 1 < created.version_id().unwrap() {
                iot.delete_provisioning_template_version()
                    .template_name(&template)
                    .version_id(id)
                    .send()
                    .await
                    .unwrap();
            }
        }
        wiring
            .called(
                "CreateProvisioningTemplateVersion",
                request.clone(),
                Value::Null,
            )
            .await;
        wiring
            .deliver_until(async || {
                p.dr.provisioning_template(&name)
                    .await
                    .unwrap()
                    .unwrap()
                    .template_body
                    .contains(&format!("\"revision\":\"{marker}\""))
            })
            .await;
    }
    let dr_versions = p
        .session
        .iot(Side::Dr)
        .list_provisioning_template_versions()
        .template_name(&template)
        .send()
        .await
        .unwrap();
    assert_eq!(
        dr_versions.versions().len(),
        5,
        "DR pruned its oldest versions"
    );

    // Disabled and unhooked in primary: the same in DR.
    iot.update_provisioning_template()
        .template_name(&template)
        .enabled(false)
        .remove_pre_provisioning_hook(true)
        .send()
        .await
        .unwrap();
    wiring
        .called("UpdateProvisioningTemplate", request.clone(), Value::Null)
        .await;
    wiring
        .deliver_until(async || {
            p.dr.provisioning_template(&name)
                .await
                .unwrap()
                .is_some_and(|t| !t.enabled && t.pre_provisioning_hook.is_none())
        })
        .await;

    iot.delete_provisioning_template()
        .template_name(&template)
        .send()
        .await
        .unwrap();
    wiring
        .called("DeleteProvisioningTemplate", request, Value::Null)
        .await;
    wiring
        .deliver_until(async || p.dr.provisioning_template(&name).await.unwrap().is_none())
        .await;
    assert!(p.dead_letters().await.is_empty());
}
