//! What steers devices: the custom domain in both regions, and the alarm Route 53 follows.

use dr_core::{Side, Topology};

use super::{check, unreadable, Check, Verdict};
use crate::failover::serving_alarm_name;
use crate::AwsSession;

pub(super) async fn domain_configuration(
    session: &AwsSession,
    topology: &Topology,
    side: Side,
) -> Check {
    let name = format!("domain configuration in {side}");
    let iot = session.iot(side);
    let listed = match iot.list_domain_configurations().send().await {
        Ok(listed) => listed,
        Err(e) => {
            let error = crate::error::port_error("ListDomainConfigurations", e);
            return unreadable(&name, side, topology, &error);
        }
    };
    for summary in listed.domain_configurations() {
        let Some(config_name) = summary.domain_configuration_name() else {
            continue;
        };
        if let Ok(described) = iot
            .describe_domain_configuration()
            .domain_configuration_name(config_name)
            .send()
            .await
        {
            if described.domain_name() == Some(topology.dns.record.as_str()) {
                return check(
                    &name,
                    Verdict::Ok,
                    format!("{config_name} serves {}", topology.dns.record),
                );
            }
        }
    }
    check(
        &name,
        Verdict::Fail,
        format!("no domain configuration for {} in {side}: devices following the DNS flip would be refused", topology.dns.record),
    )
}

pub(super) async fn serving_alarm(session: &AwsSession, topology: &Topology) -> Check {
    const NAME: &str = "failover alarm";
    let alarm = serving_alarm_name(topology);
    match session.cloudwatch(Side::Dr).describe_alarms().alarm_names(&alarm).send().await {
        Ok(found) if !found.metric_alarms().is_empty() => check(NAME, Verdict::Ok, alarm),
        Ok(_) => check(NAME, Verdict::Fail, format!("{alarm} missing in DR: Route 53 has nothing to follow; deploy the DR stack (infra/), or start the health checker (it creates it too)")),
        Err(e) => unreadable(
            NAME,
            Side::Dr,
            topology,
            &crate::error::port_error("DescribeAlarms", e),
        ),
    }
}
