//! Flow D's resources in the DR account (the CDK DR stack's twins): the failover state
//! table, the operators' topic (KMS-encrypted), the hosted zone, and what the configured
//! traffic switch needs (alarm, health check and failover records, or the plain record).

use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata};
use dr_aws::failover::{operator_topic_arn, Switch};
use dr_aws::{names, AwsSession};
use dr_core::failover::TrafficSwitch;
use dr_core::{Side, Topology};
use serde_json::json;

use super::replication::{ensure_table, provisioned};
use super::{Outcome, ProvisionError, Provisioned};

pub(super) async fn provision(
    session: &AwsSession,
    topology: &Topology,
) -> Result<Vec<Provisioned>, ProvisionError> {
    let mut report = vec![
        ensure_table(
            session,
            topology.failover.state_table.as_str(),
            names::STATE_TABLE_KEY,
        )
        .await?,
    ];
    report.push(ensure_topic(session, topology).await?);
    report.push(ensure_zone(session, topology).await?);
    for side in [Side::Primary, Side::Dr] {
        report.push(ensure_domain_configuration(session, topology, side).await?);
    }
    Switch::new(session, topology)
        .ensure()
        .await
        .map_err(|e| ProvisionError::new(Side::Dr, "traffic switch", e))?;
    report.push(provisioned(
        "dns switch",
        format!("{} ({:?})", topology.dns.record, topology.failover.flip),
        Outcome::Existed,
    ));
    Ok(report)
}

async fn ensure_topic(
    session: &AwsSession,
    topology: &Topology,
) -> Result<Provisioned, ProvisionError> {
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DrAccountAdministersTheKey",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{}:root", topology.dr.account_id)},
                "Action": "kms:*",
                "Resource": "*"
            }
        ]
    });
    let (key_arn, _) = super::kms::ensure_key(
        &session.kms(Side::Dr),
        Side::Dr,
        names::OPERATORS_KEY_ALIAS,
        "Encrypts the IoT DR operators' notification topic at rest",
        policy.to_string(),
    )
    .await?;
    let sns = session.sns(Side::Dr);
    let arn = operator_topic_arn(topology);
    let existed = sns
        .get_topic_attributes()
        .topic_arn(&arn)
        .send()
        .await
        .is_ok();
    sns.create_topic()
        .name(topology.failover.operator_topic.as_str())
        .attributes("KmsMasterKeyId", key_arn)
        .send()
        .await
        .map_err(|e| {
            ProvisionError::new(Side::Dr, format!("topic {arn}"), DisplayErrorContext(e))
        })?;
    Ok(provisioned(
        "sns topic",
        arn,
        if existed {
            Outcome::Existed
        } else {
            Outcome::Created
        },
    ))
}

async fn ensure_zone(
    session: &AwsSession,
    topology: &Topology,
) -> Result<Provisioned, ProvisionError> {
    let route53 = session.route53(Side::Dr);
    let zone = format!("{}.", topology.dns.zone.as_str().trim_end_matches('.'));
    let error = |e: String| ProvisionError::new(Side::Dr, format!("hosted zone {zone}"), e);
    let existing = route53
        .list_hosted_zones_by_name()
        .dns_name(&zone)
        .send()
        .await
        .map_err(|e| error(DisplayErrorContext(e).to_string()))?;
    if existing.hosted_zones().iter().any(|z| z.name() == zone) {
        return Ok(provisioned("dns zone", zone, Outcome::Existed));
    }
    match route53
        .create_hosted_zone()
        .name(&zone)
        .caller_reference(format!("iot-dr-{zone}"))
        .send()
        .await
    {
        Ok(_) => Ok(provisioned("dns zone", zone, Outcome::Created)),
        Err(e) if e.code() == Some("HostedZoneAlreadyExists") => {
            Ok(provisioned("dns zone", zone, Outcome::Existed))
        }
        Err(e) => Err(error(DisplayErrorContext(e).to_string())),
    }
}

/// The custom domain devices connect to, served by IoT Core in each region (in AWS with the
/// domain's server certificate from ACM; the sandbox needs none).
async fn ensure_domain_configuration(
    session: &AwsSession,
    topology: &Topology,
    side: Side,
) -> Result<Provisioned, ProvisionError> {
    let iot = session.iot(side);
    let name = names::domain_configuration_name(topology);
    let error = |e: String| ProvisionError::new(side, format!("domain configuration {name}"), e);
    let outcome = if iot
        .describe_domain_configuration()
        .domain_configuration_name(&name)
        .send()
        .await
        .is_ok()
    {
        Outcome::Existed
    } else {
        match iot
            .create_domain_configuration()
            .domain_configuration_name(&name)
            .domain_name(topology.dns.record.as_str())
            .service_type(aws_sdk_iot::types::ServiceType::Data)
            .send()
            .await
        {
            Ok(_) => Outcome::Created,
            // Another provisioner created it between our describe and create.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_already_exists_exception()) =>
            {
                Outcome::Existed
            }
            Err(e) => return Err(error(DisplayErrorContext(e).to_string())),
        }
    };
    Ok(Provisioned {
        side,
        kind: "iot domain",
        id: format!("{name} ({})", topology.dns.record),
        outcome,
    })
}
