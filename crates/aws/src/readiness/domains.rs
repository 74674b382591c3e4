//! Where devices land after the flip: the AWS IoT domain configuration serving `[dns]
//! record` in each region, listed in full (AWS pages it), ENABLED, its server certificates
//! VALID, DR's treating devices as primary's does.

use dr_core::port::PortError;
use dr_core::{Side, Topology};

use super::{check, unreadable, Check, Verdict};
use crate::AwsSession;

/// The custom domain's configuration in each region, as devices following the flip need
/// it: ENABLED with VALID server certificates on both sides, and DR's serving the same kind
/// of traffic (service type) with the same authorizer and TLS policy as primary's. One check
/// per side, primary's first; DR's own state is judged even when primary cannot be read.
pub(super) async fn domain_configurations(session: &AwsSession, topology: &Topology) -> [Check; 2] {
    let name = |side: Side| format!("domain configuration in {side}");
    let record = topology.dns.record.as_str();
    let (primary, dr) = tokio::join!(
        serving_domain(session, topology, Side::Primary),
        serving_domain(session, topology, Side::Dr)
    );
    let missing = |side: Side| {
        check(
            &name(side),
            Verdict::Fail,
            format!("no domain configuration for {record} in {side}: devices following the DNS flip would be refused"),
        )
    };
    let primary_check = match &primary {
        Err(error) => unreadable(&name(Side::Primary), Side::Primary, topology, error),
        Ok(None) => missing(Side::Primary),
        Ok(Some(found)) => match found.own_problems() {
            problems if problems.is_empty() => {
                check(&name(Side::Primary), Verdict::Ok, found.summary(record))
            }
            problems => check(
                &name(Side::Primary),
                Verdict::Fail,
                format!(
                    "{}; devices failing back would be refused",
                    problems.join("; ")
                ),
            ),
        },
    };
    let dr_check = match &dr {
        Err(error) => unreadable(&name(Side::Dr), Side::Dr, topology, error),
        Ok(None) => missing(Side::Dr),
        Ok(Some(found)) => {
            let mut problems = found.own_problems();
            if let Ok(Some(wanted)) = &primary {
                problems.extend(found.differences_from(wanted));
            }
            match (&primary, problems.is_empty()) {
                (_, false) => check(
                    &name(Side::Dr),
                    Verdict::Fail,
                    format!("{}; devices following the DNS flip would be refused or treated otherwise than in primary — fix it in DR (UpdateDomainConfiguration)", problems.join("; ")),
                ),
                (Err(error), true) => {
                    let mut unknown = unreadable(&name(Side::Dr), Side::Primary, topology, error);
                    unknown.detail = format!(
                        "{}; service type, authorizer and TLS policy not compared: {}",
                        found.summary(record),
                        unknown.detail
                    );
                    unknown
                }
                (Ok(primary), true) => check(
                    &name(Side::Dr),
                    Verdict::Ok,
                    format!(
                        "{}{}",
                        found.summary(record),
                        if primary.is_some() { ", as primary's" } else { "" }
                    ),
                ),
            }
        }
    };
    [primary_check, dr_check]
}

/// The domain configuration of `side` that serves `[dns] record`, if any: every
/// configuration listed (all pages), the one named as the deployment names it read first.
async fn serving_domain(
    session: &AwsSession,
    topology: &Topology,
    side: Side,
) -> Result<Option<ServingDomain>, PortError> {
    let iot = session.iot(side);
    let listed = iot
        .list_domain_configurations()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| crate::error::port_error("ListDomainConfigurations", e))?;
    let ours = crate::names::domain_configuration_name(topology);
    let mut names: Vec<&str> = listed
        .iter()
        .filter_map(|summary| summary.domain_configuration_name())
        .collect();
    names.sort_by_key(|name| *name != ours);
    for config_name in names {
        let described = iot
            .describe_domain_configuration()
            .domain_configuration_name(config_name)
            .send()
            .await
            .map_err(|e| crate::error::port_error("DescribeDomainConfiguration", e))?;
        if described.domain_name() == Some(topology.dns.record.as_str()) {
            return Ok(Some(ServingDomain::of(config_name, &described)));
        }
    }
    Ok(None)
}

/// What decides how a domain configuration treats the devices that reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ServingDomain {
    name: String,
    status: Option<String>,
    service_type: Option<String>,
    /// The default authorizer and whether a device may name another.
    authorizer: Option<(Option<String>, Option<bool>)>,
    tls_policy: Option<String>,
    /// Each server certificate's ARN, status and AWS's detail on it.
    certificates: Vec<(String, String, Option<String>)>,
}

impl ServingDomain {
    fn of(
        name: &str,
        found: &aws_sdk_iot::operation::describe_domain_configuration::DescribeDomainConfigurationOutput,
    ) -> Self {
        Self {
            name: name.to_owned(),
            status: found
                .domain_configuration_status()
                .map(|s| s.as_str().to_owned()),
            service_type: found.service_type().map(|s| s.as_str().to_owned()),
            authorizer: found
                .authorizer_config()
                .filter(|a| {
                    a.default_authorizer_name().is_some() || a.allow_authorizer_override().is_some()
                })
                .map(|a| {
                    (
                        a.default_authorizer_name().map(str::to_owned),
                        a.allow_authorizer_override(),
                    )
                }),
            tls_policy: found
                .tls_config()
                .and_then(|t| t.security_policy())
                .map(str::to_owned),
            certificates: found
                .server_certificates()
                .iter()
                .map(|c| {
                    (
                        c.server_certificate_arn().unwrap_or("unnamed").to_owned(),
                        c.server_certificate_status()
                            .map_or("unknown", |s| s.as_str())
                            .to_owned(),
                        c.server_certificate_status_detail().map(str::to_owned),
                    )
                })
                .collect(),
        }
    }

    /// What is wrong with it whatever the other side holds.
    fn own_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let status = self.status.as_deref().unwrap_or("unset");
        if status != "ENABLED" {
            problems.push(format!("{} is {status}, not ENABLED", self.name));
        }
        for (arn, status, detail) in &self.certificates {
            if status != "VALID" {
                problems.push(format!(
                    "{}'s server certificate {arn} is {status}{}",
                    self.name,
                    detail
                        .as_ref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                ));
            }
        }
        problems
    }

    /// How it differs from `wanted` (primary's), one phrase each.
    fn differences_from(&self, wanted: &ServingDomain) -> Vec<String> {
        let shown = |value: Option<&str>| value.unwrap_or("unset").to_owned();
        let authorizer = |a: &Option<(Option<String>, Option<bool>)>| match a {
            None => "none".to_owned(),
            Some((name, allow_override)) => format!(
                "{}{}",
                name.as_deref().unwrap_or("no default"),
                if *allow_override == Some(true) {
                    " (override allowed)"
                } else {
                    ""
                }
            ),
        };
        let mut differences = Vec::new();
        if self.service_type != wanted.service_type {
            differences.push(format!(
                "{} serves {} in DR, {} in primary",
                self.name,
                shown(self.service_type.as_deref()),
                shown(wanted.service_type.as_deref())
            ));
        }
        if self.authorizer != wanted.authorizer {
            differences.push(format!(
                "{}'s authorizer is {} in DR, {} in primary",
                self.name,
                authorizer(&self.authorizer),
                authorizer(&wanted.authorizer)
            ));
        }
        if self.tls_policy != wanted.tls_policy {
            differences.push(format!(
                "{}'s TLS policy is {} in DR, {} in primary",
                self.name,
                shown(self.tls_policy.as_deref()),
                shown(wanted.tls_policy.as_deref())
            ));
        }
        differences
    }

    fn summary(&self, record: &str) -> String {
        format!(
            "{} serves {record} ({}, {}, {} server certificate(s) VALID)",
            self.name,
            self.status.as_deref().unwrap_or("unset"),
            self.service_type.as_deref().unwrap_or("no service type"),
            self.certificates.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serving(status: &str) -> ServingDomain {
        ServingDomain {
            name: "iot-dr-iot-example-com".to_owned(),
            status: Some(status.to_owned()),
            service_type: Some("DATA".to_owned()),
            authorizer: None,
            tls_policy: Some("IoTSecurityPolicy_TLS13_1_2_2022_10".to_owned()),
            certificates: vec![(
                "arn:aws:acm:us-west-2:222222222222:certificate/iot".to_owned(),
                "VALID".to_owned(),
                None,
            )],
        }
    }

    #[test]
    fn a_disabled_domain_or_an_invalid_server_certificate_is_named_whatever_primary_holds() {
        assert_eq!(serving("ENABLED").own_problems(), Vec::<String>::new());
        let mut dr = serving("DISABLED");
        dr.certificates[0].1 = "INVALID".to_owned();
        dr.certificates[0].2 = Some("CERTIFICATE_EXPIRED".to_owned());
        let problems = dr.own_problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("is DISABLED, not ENABLED"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("certificate/iot is INVALID (CERTIFICATE_EXPIRED)"),
            "{problems:?}"
        );
    }

    #[test]
    fn service_type_authorizer_and_tls_policy_differing_from_primary_are_named() {
        let primary = serving("ENABLED");
        assert_eq!(
            serving("ENABLED").differences_from(&primary),
            Vec::<String>::new()
        );
        let dr = ServingDomain {
            service_type: Some("CREDENTIAL_PROVIDER".to_owned()),
            authorizer: Some((Some("wearables".to_owned()), Some(true))),
            tls_policy: Some("IoTSecurityPolicy_TLS12_1_0_2015_01".to_owned()),
            ..serving("ENABLED")
        };
        let differences = dr.differences_from(&primary);
        assert_eq!(differences.len(), 3, "{differences:?}");
        assert!(
            differences[0].contains("serves CREDENTIAL_PROVIDER in DR, DATA in primary"),
            "{differences:?}"
        );
        assert!(
            differences[1]
                .contains("authorizer is wearables (override allowed) in DR, none in primary"),
            "{differences:?}"
        );
        assert!(
            differences[2].contains("TLS policy is IoTSecurityPolicy_TLS12_1_0_2015_01 in DR"),
            "{differences:?}"
        );
    }
}
