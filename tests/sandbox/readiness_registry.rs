//! Readiness of what devices meet in DR's registry and at its custom domain, read as AWS
//! serves it: every listing paged (the sandbox pages as AWS does, 25 by default), CAs
//! compared both ways, the domain configuration's own state. Through `drctl`, under the
//! operators' IAM.

use aws_sdk_iot::types::AutoRegistrationStatus;
use dr_core::{FlipMode, Side};
use dr_sandbox::devices::FleetCa;
use serde_json::json;

use crate::cli::readiness_check;
use crate::failover::World;
use crate::helpers::{admin, shared_endpoint, topology_for, unique};
use crate::pipeline::Pipeline;
use crate::primary_endpoint::PrimaryEndpoint;

/// Every IoT listing readiness reads answers a page of the size asked for and a marker that
/// continues it (moto 5.2.5 answers everything at once, with no marker), and 25 items when
/// no size is given, as AWS's ListCACertificates documents.
#[tokio::test]
async fn the_sandbox_pages_the_iot_listings_readiness_reads_as_aws_does() {
    let topology = topology_for(&shared_endpoint());
    let session = admin(&topology).await;
    let iot = session.iot(Side::Primary);
    let prefix = unique("page");
    // Topic rule names take no hyphens.
    let names: Vec<String> = (0..3).map(|i| format!("{prefix}-{i}")).collect();
    let rule_names: Vec<String> = names.iter().map(|n| n.replace('-', "_")).collect();
    let document = json!({"Version": "2012-10-17", "Statement": []}).to_string();
    let role = format!("arn:aws:iam::{}:role/page", topology.primary.account_id);
    let mut ca_ids = Vec::new();
    for (name, rule) in names.iter().zip(&rule_names) {
        iot.create_policy()
            .policy_name(name)
            .policy_document(&document)
            .send()
            .await
            .unwrap();
        iot.create_thing_group()
            .thing_group_name(name)
            .send()
            .await
            .unwrap();
        iot.create_role_alias()
            .role_alias(name)
            .role_arn(&role)
            .send()
            .await
            .unwrap();
        iot.create_domain_configuration()
            .domain_configuration_name(name)
            .domain_name(format!("{name}.example.com"))
            .service_type(aws_sdk_iot::types::ServiceType::Data)
            .send()
            .await
            .unwrap();
        iot.create_topic_rule()
            .rule_name(rule)
            .topic_rule_payload(
                aws_sdk_iot::types::TopicRulePayload::builder()
                    .sql("SELECT * FROM 'wearables/+/alerts'")
                    .set_actions(Some(Vec::new()))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let ca = FleetCa::new(name);
        iot.register_ca_certificate()
            .ca_certificate(&ca.pem)
            .set_as_active(true)
            .send()
            .await
            .unwrap();
        ca_ids.push(ca.id.as_str().to_owned());
    }

    // A page of two, and a marker; following the markers finds all three.
    let first = iot.list_policies().page_size(2).send().await.unwrap();
    assert_eq!(first.policies().len(), 2);
    assert!(first.next_marker().is_some(), "{first:?}");
    let policies: Vec<String> = iot
        .list_policies()
        .into_paginator()
        .page_size(2)
        .items()
        .send()
        .try_collect()
        .await
        .unwrap()
        .iter()
        .filter_map(|p| p.policy_name().map(str::to_owned))
        .collect();
    assert!(names.iter().all(|n| policies.contains(n)), "{policies:?}");

    let first = iot
        .list_ca_certificates()
        .page_size(2)
        .send()
        .await
        .unwrap();
    assert_eq!(first.certificates().len(), 2);
    assert!(first.next_marker().is_some(), "{first:?}");
    let cas: Vec<String> = iot
        .list_ca_certificates()
        .into_paginator()
        .page_size(2)
        .items()
        .send()
        .try_collect()
        .await
        .unwrap()
        .iter()
        .filter_map(|c| c.certificate_id().map(str::to_owned))
        .collect();
    assert!(ca_ids.iter().all(|id| cas.contains(id)), "{cas:?}");

    let first = iot
        .list_domain_configurations()
        .page_size(2)
        .send()
        .await
        .unwrap();
    assert_eq!(first.domain_configurations().len(), 2);
    assert!(first.next_marker().is_some(), "{first:?}");
    let domains: Vec<String> = iot
        .list_domain_configurations()
        .into_paginator()
        .page_size(2)
        .items()
        .send()
        .try_collect()
        .await
        .unwrap()
        .iter()
        .filter_map(|d| d.domain_configuration_name().map(str::to_owned))
        .collect();
    assert!(names.iter().all(|n| domains.contains(n)), "{domains:?}");

    let first = iot.list_role_aliases().page_size(2).send().await.unwrap();
    assert_eq!(first.role_aliases().len(), 2);
    assert!(first.next_marker().is_some(), "{first:?}");
    let aliases: Vec<String> = iot
        .list_role_aliases()
        .into_paginator()
        .page_size(2)
        .items()
        .send()
        .try_collect()
        .await
        .unwrap();
    assert!(names.iter().all(|n| aliases.contains(n)), "{aliases:?}");

    let first = iot.list_thing_groups().max_results(2).send().await.unwrap();
    assert_eq!(first.thing_groups().len(), 2);
    assert!(first.next_token().is_some(), "{first:?}");
    let groups: Vec<String> = iot
        .list_thing_groups()
        .into_paginator()
        .page_size(2)
        .items()
        .send()
        .try_collect()
        .await
        .unwrap()
        .iter()
        .filter_map(|g| g.group_name().map(str::to_owned))
        .collect();
    assert!(names.iter().all(|n| groups.contains(n)), "{groups:?}");

    let first = iot.list_topic_rules().max_results(2).send().await.unwrap();
    assert_eq!(first.rules().len(), 2);
    assert!(first.next_token().is_some(), "{first:?}");
    let rules: Vec<String> = iot
        .list_topic_rules()
        .into_paginator()
        .page_size(2)
        .items()
        .send()
        .try_collect()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| r.rule_name().map(str::to_owned))
        .collect();
    assert!(rule_names.iter().all(|n| rules.contains(n)), "{rules:?}");

    // No size asked for: AWS's default of 25.
    for i in 0..26 {
        iot.create_policy()
            .policy_name(format!("{prefix}-default-{i}"))
            .policy_document(&document)
            .send()
            .await
            .unwrap();
    }
    let first = iot.list_policies().send().await.unwrap();
    assert_eq!(first.policies().len(), 25);
    assert!(first.next_marker().is_some(), "{first:?}");
    // And no more than AWS allows.
    let error = iot.list_policies().page_size(251).send().await.unwrap_err();
    assert!(
        error
            .as_service_error()
            .is_some_and(|e| e.is_invalid_request_exception()),
        "{error:?}"
    );
}

/// The cases for the registry, on a sandbox of the test's own (readiness lists
/// whole registries): a policy on primary's second page missing in DR fails naming it; a CA
/// on primary's second page deactivated in primary only fails; auto-registration off in DR
/// only fails; a CA in DR only is reported, not failed.
#[tokio::test]
async fn readiness_reads_every_page_and_compares_cas_both_ways() {
    let log = std::env::temp_dir().join(format!("{}.log", unique("readiness-registry")));
    let server = dr_sandbox::SandboxServer::start(&dr_sandbox::LauncherPaths::from_build(), &log)
        .await
        .unwrap();
    let p = Pipeline::on(server.endpoint()).await;
    let t = &p.topology;
    let (primary, dr) = (p.session.iot(Side::Primary), p.session.iot(Side::Dr));

    // 30 policies, the 30th on primary's second page (25 to a page) and missing in DR.
    let document = json!({"Version": "2012-10-17", "Statement": []}).to_string();
    for i in 0..30 {
        let name = format!("ward-{i:02}");
        let sides = if i == 29 {
            vec![&primary]
        } else {
            vec![&primary, &dr]
        };
        for iot in sides {
            iot.create_policy()
                .policy_name(&name)
                .policy_document(&document)
                .send()
                .await
                .unwrap();
        }
    }
    // 26 CAs registered alike in both regions, JITR on: the 26th on primary's second page.
    let cas: Vec<FleetCa> = (0..26)
        .map(|i| FleetCa::new(&format!("fleet-ca-{i}")))
        .collect();
    for ca in &cas {
        for iot in [&primary, &dr] {
            iot.register_ca_certificate()
                .ca_certificate(&ca.pem)
                .set_as_active(true)
                .allow_auto_registration(true)
                .send()
                .await
                .unwrap();
        }
    }
    let (kind, detail) = readiness_check(t, "policies equal modulo ARNs").await;
    assert_eq!(kind, "FAIL", "{detail}");
    assert!(detail.contains("ward-29 (missing)"), "{detail}");
    assert!(!detail.contains("ward-28"), "{detail}");
    let (kind, detail) = readiness_check(t, "CAs in DR").await;
    assert_eq!(kind, "ok", "{detail}");
    assert!(detail.contains(": 26 CA(s) registered"), "{detail}");

    // The 26th CA compromised: deactivated in primary, its change not (yet) in DR.
    let last = &cas[25];
    primary
        .update_ca_certificate()
        .certificate_id(last.id.as_str())
        .new_status(aws_sdk_iot::types::CaCertificateStatus::Inactive)
        .send()
        .await
        .unwrap();
    let (kind, detail) = readiness_check(t, "CAs in DR").await;
    assert_eq!(kind, "FAIL", "{detail}");
    assert!(
        detail.contains(&format!(
            "{} is ACTIVE in DR but INACTIVE in primary",
            last.id
        )),
        "{detail}"
    );
    dr.update_ca_certificate()
        .certificate_id(last.id.as_str())
        .new_status(aws_sdk_iot::types::CaCertificateStatus::Inactive)
        .send()
        .await
        .unwrap();

    // JITR turned off in DR only: a device's first connection there would not register it.
    let first = &cas[0];
    dr.update_ca_certificate()
        .certificate_id(first.id.as_str())
        .new_auto_registration_status(AutoRegistrationStatus::Disable)
        .send()
        .await
        .unwrap();
    let (kind, detail) = readiness_check(t, "CAs in DR").await;
    assert_eq!(kind, "FAIL", "{detail}");
    assert!(
        detail.contains(&format!(
            "{} has auto-registration DISABLE in DR, ENABLE in primary",
            first.id
        )),
        "{detail}"
    );
    assert!(!detail.contains(last.id.as_str()), "{detail}");
    dr.update_ca_certificate()
        .certificate_id(first.id.as_str())
        .new_auto_registration_status(AutoRegistrationStatus::Enable)
        .send()
        .await
        .unwrap();

    // A CA DR alone holds: reported, not failed.
    let stray = FleetCa::new("dr-only-ca");
    dr.register_ca_certificate()
        .ca_certificate(&stray.pem)
        .set_as_active(true)
        .send()
        .await
        .unwrap();
    let (kind, detail) = readiness_check(t, "CAs in DR").await;
    assert_eq!(kind, "warn", "{detail}");
    assert!(
        detail.contains(&format!("in DR only: {}", stray.id)),
        "{detail}"
    );
}

/// A domain configuration DISABLED in DR, or negotiating another TLS policy than primary's:
/// devices following the flip would be refused, or met otherwise.
#[tokio::test]
async fn readiness_fails_a_domain_configuration_disabled_or_on_another_tls_policy_in_dr() {
    use aws_sdk_iot::types::{DomainConfigurationStatus, TlsConfig};

    let endpoint = PrimaryEndpoint::start().await;
    let world = World::new(&endpoint, FlipMode::DataPlane).await;
    let t = &world.topology;
    for side in ["primary", "dr"] {
        let (kind, detail) = readiness_check(t, &format!("domain configuration in {side}")).await;
        assert_eq!(kind, "ok", "{side}: {detail}");
        assert!(detail.contains("ENABLED, DATA"), "{detail}");
    }
    let name = dr_aws::names::domain_configuration_name(t);
    let iot = world.session.iot(Side::Dr);
    iot.update_domain_configuration()
        .domain_configuration_name(&name)
        .domain_configuration_status(DomainConfigurationStatus::Disabled)
        .send()
        .await
        .unwrap();
    let (kind, detail) = readiness_check(t, "domain configuration in dr").await;
    assert_eq!(kind, "FAIL", "{detail}");
    assert!(
        detail.contains(&format!("{name} is DISABLED, not ENABLED")),
        "{detail}"
    );
    let (kind, detail) = readiness_check(t, "domain configuration in primary").await;
    assert_eq!(kind, "ok", "primary's is not DR's: {detail}");

    // Enabled again, but on an older TLS policy than primary's (AWS's default for new ones).
    iot.update_domain_configuration()
        .domain_configuration_name(&name)
        .domain_configuration_status(DomainConfigurationStatus::Enabled)
        .tls_config(
            TlsConfig::builder()
                .security_policy("IoTSecurityPolicy_TLS12_1_0_2015_01")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (kind, detail) = readiness_check(t, "domain configuration in dr").await;
    assert_eq!(kind, "FAIL", "{detail}");
    assert!(
        detail.contains(&format!(
            "{name}'s TLS policy is IoTSecurityPolicy_TLS12_1_0_2015_01 in DR, IoTSecurityPolicy_TLS13_1_2_2022_10 in primary"
        )),
        "{detail}"
    );
}
