//! What steers devices: the alarm Route 53 follows, its health check and failover records,
//! and the switch that arms it (the custom domain itself is `domains`).

use aws_sdk_cloudwatch::types::MetricAlarm;
use aws_sdk_route53::types::ResourceRecordSet;
use dr_core::port::PortError;
use dr_core::{FlipMode, Side, Topology};

use super::{check, unreadable, Check, Verdict};
use crate::failover::{DataPlaneSwitch, ServingAlarm};
use crate::AwsSession;

/// The serving alarm exists with the definition Route 53 needs: a standard-resolution
/// metric's 60 s period, Minimum, one datapoint, missing data ignored. An alarm edited by
/// hand (Average, a longer period, missing data breaching) still "exists" and would move
/// traffic late, or on a silent checker.
pub(super) async fn serving_alarm(session: &AwsSession, topology: &Topology) -> Check {
    const NAME: &str = "failover alarm";
    let wanted = ServingAlarm::of(topology);
    let alarm = &wanted.alarm_name;
    match session.cloudwatch(Side::Dr).describe_alarms().alarm_names(alarm).send().await {
        Ok(found) => match found.metric_alarms().first() {
            None => check(NAME, Verdict::Fail, format!("{alarm} missing in DR: Route 53 has nothing to follow; deploy the DR stack (infra/), or start the health checker (it creates it too)")),
            Some(found) => match alarm_deviations(&wanted, found) {
                deviations if deviations.is_empty() => check(
                    NAME,
                    Verdict::Ok,
                    format!("{alarm}: {} of {} over {} s, missing data {}", wanted.statistic, wanted.metric_name, wanted.period_seconds, wanted.treat_missing_data),
                ),
                deviations => check(NAME, Verdict::Fail, format!("{alarm} differs from what Route 53's failover needs: {}; redeploy the DR stack (or let the health checker's cold start put it back)", deviations.join("; "))),
            },
        },
        Err(e) => unreadable(
            NAME,
            Side::Dr,
            topology,
            &crate::error::port_error("DescribeAlarms", e),
        ),
    }
}

/// What differs between the alarm found and the one wanted, one phrase each.
fn alarm_deviations(wanted: &ServingAlarm, found: &MetricAlarm) -> Vec<String> {
    let mut deviations = Vec::new();
    let mut differ = |what: &str, found: String, wanted: String| {
        if found != wanted {
            deviations.push(format!("{what} {found}, wanted {wanted}"));
        }
    };
    let text = |value: Option<&str>| value.unwrap_or("unset").to_owned();
    differ(
        "namespace",
        text(found.namespace()),
        wanted.namespace.to_owned(),
    );
    differ(
        "metric",
        text(found.metric_name()),
        wanted.metric_name.to_owned(),
    );
    differ(
        "dimensions",
        found
            .dimensions()
            .iter()
            .map(|d| format!("{}={}", d.name().unwrap_or(""), d.value().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(","),
        format!("{}={}", wanted.dimension_name, wanted.dimension_value),
    );
    differ(
        "statistic",
        text(found.statistic().map(|s| s.as_str())),
        wanted.statistic.to_owned(),
    );
    // Route 53 follows standard-resolution alarms only: a 10 or 30 s period is a
    // high-resolution alarm it cannot use, a longer one delays the flip.
    differ(
        "period",
        found
            .period()
            .map_or("unset".to_owned(), |p| format!("{p} s")),
        format!("{} s", wanted.period_seconds),
    );
    differ(
        "evaluation periods",
        found
            .evaluation_periods()
            .map_or("unset".to_owned(), |n| n.to_string()),
        wanted.evaluation_periods.to_string(),
    );
    differ(
        "datapoints to alarm",
        // Unset means "as many as the evaluation periods".
        found
            .datapoints_to_alarm()
            .or(found.evaluation_periods())
            .map_or("unset".to_owned(), |n| n.to_string()),
        wanted.datapoints_to_alarm.to_string(),
    );
    differ(
        "threshold",
        found
            .threshold()
            .map_or("unset".to_owned(), |t| t.to_string()),
        wanted.threshold.to_string(),
    );
    differ(
        "comparison",
        text(found.comparison_operator().map(|c| c.as_str())),
        wanted.comparison_operator.to_owned(),
    );
    differ(
        "missing data",
        // CloudWatch's default when unset is `missing`.
        found.treat_missing_data().unwrap_or("missing").to_owned(),
        wanted.treat_missing_data.to_owned(),
    );
    deviations
}

/// The Route 53 health check PRIMARY's record carries: follows our alarm in DR, not
/// inverted, and keeps its last status while the alarm has no data (a silent checker moves
/// nothing). A Route 53 control-plane read: unreachable is not DR's fault.
pub(super) async fn failover_health_check(session: &AwsSession, topology: &Topology) -> Check {
    const NAME: &str = "failover health check";
    let switch = DataPlaneSwitch::new(session, topology);
    let wanted = switch.definition();
    match switch.our_health_check().await {
        Ok(Some(found)) => {
            let id = found.id();
            let config = found.health_check_config();
            let mut deviations = Vec::new();
            if config.is_some_and(|c| c.inverted() == Some(true)) {
                deviations.push("inverted (healthy would send traffic to DR)".to_owned());
            }
            let insufficient = config
                .and_then(|c| c.insufficient_data_health_status())
                .map_or("unset", |s| s.as_str());
            if insufficient != wanted.health_check_insufficient_data {
                deviations.push(format!(
                    "InsufficientDataHealthStatus {insufficient}, wanted {} (a silent checker must move nothing)",
                    wanted.health_check_insufficient_data
                ));
            }
            if deviations.is_empty() {
                check(NAME, Verdict::Ok, format!("{id} follows {} in {}; no data keeps its {insufficient}", wanted.alarm_name, topology.dr.region))
            } else {
                check(NAME, Verdict::Fail, format!("{id}: {}; redeploy the DR stack", deviations.join("; ")))
            }
        }
        Ok(None) => check(NAME, Verdict::Fail, format!("no CLOUDWATCH_METRIC health check follows {} in {}: PRIMARY's record has nothing to fail on; deploy the DR stack", wanted.alarm_name, topology.dr.region)),
        Err(error) => route53_unreadable(NAME, &error),
    }
}

/// Both failover records of `[dns] record`: PRIMARY → primary's target carrying our
/// health check, SECONDARY → DR's target, the configured TTL. With `flip = "dns-api"`,
/// the one simple record pointing at either target.
pub(super) async fn failover_records(session: &AwsSession, topology: &Topology) -> Check {
    const NAME: &str = "failover records";
    let dns = &topology.dns;
    let sets = match topology.failover.flip {
        FlipMode::DataPlane => {
            let switch = DataPlaneSwitch::new(session, topology);
            let (found, health_check) =
                match tokio::join!(switch.record_sets(), switch.our_health_check()) {
                    (Ok(found), Ok(health_check)) => (found, health_check),
                    (Err(error), _) | (_, Err(error)) => return route53_unreadable(NAME, &error),
                };
            let health_check = health_check.map(|h| h.id().to_owned());
            let mut deviations = Vec::new();
            for side in [Side::Primary, Side::Dr] {
                let wanted = match switch.failover_record(
                    side,
                    health_check.as_deref().filter(|_| side == Side::Primary),
                ) {
                    Ok(wanted) => wanted,
                    Err(error) => return check(NAME, Verdict::Fail, error.to_string()),
                };
                let role = if side == Side::Primary {
                    "PRIMARY"
                } else {
                    "SECONDARY"
                };
                match found.iter().find(|f| f.failover() == wanted.failover()) {
                    None => deviations.push(format!("no {role} record")),
                    Some(f) => {
                        let target = |r: &ResourceRecordSet| {
                            r.resource_records()
                                .iter()
                                .map(|v| v.value().to_owned())
                                .collect::<Vec<_>>()
                                .join(",")
                        };
                        if target(f) != target(&wanted) {
                            deviations.push(format!(
                                "{role} points at {}, wanted {}",
                                target(f),
                                target(&wanted)
                            ));
                        }
                        if side == Side::Primary && f.health_check_id() != wanted.health_check_id()
                        {
                            deviations.push(format!(
                                "PRIMARY carries health check {}, wanted {} (the one that follows the serving alarm)",
                                f.health_check_id().unwrap_or("none"),
                                wanted.health_check_id().unwrap_or("none"),
                            ));
                        }
                        if f.ttl() != wanted.ttl() {
                            deviations.push(format!(
                                "{role} TTL {:?} s, wanted {:?} s",
                                f.ttl(),
                                wanted.ttl()
                            ));
                        }
                    }
                }
            }
            deviations
        }
        FlipMode::DnsApi => {
            use dr_core::failover::TrafficSwitch;
            match crate::failover::DnsApiSwitch::new(session, topology)
                .serving()
                .await
            {
                Ok(Some(_)) => Vec::new(),
                Ok(None) => vec![format!(
                    "no record points at {} or {}",
                    dns.primary_target, dns.dr_target
                )],
                Err(error) => return route53_unreadable(NAME, &error),
            }
        }
    };
    if sets.is_empty() {
        check(
            NAME,
            Verdict::Ok,
            format!(
                "{} → {} (PRIMARY), {} (SECONDARY), TTL {} s",
                dns.record, dns.primary_target, dns.dr_target, dns.ttl_seconds
            ),
        )
    } else {
        check(
            NAME,
            Verdict::Fail,
            format!("{}: {}; redeploy the DR stack", dns.record, sets.join("; ")),
        )
    }
}

/// Whether the health checker may fail over by itself: a hold (an operator's, or the one a
/// first deploy starts with) leaves failover to `drctl failover`. A warning, not a failure:
/// DR can take over, but nobody should believe it will on its own.
pub(super) async fn automatic_failover(session: &AwsSession, topology: &Topology) -> Check {
    const NAME: &str = "automatic failover";
    use dr_core::failover::StateStore;
    match crate::failover::DynamoStateStore::new(session, topology)
        .load()
        .await
    {
        Ok(stored) => {
            let now = dr_core::time::now_millis();
            let state = stored.map_or_else(
                || dr_core::failover::State::first_deployed(now),
                |s| s.record.state,
            );
            match state.hold.filter(|h| h.holds_at(now)) {
                Some(hold) => check(
                    NAME,
                    Verdict::Warn,
                    format!(
                        "HELD by {}: {}; `drctl release` arms it",
                        hold.by, hold.reason
                    ),
                ),
                None => check(NAME, Verdict::Ok, format!("armed (primary {})", state.mode)),
            }
        }
        Err(error) => unreadable(NAME, Side::Dr, topology, &error),
    }
}

/// A Route 53 read that failed. Its control plane is one global service: no answer means it
/// could not be verified now (Unknown), a refusal or an error is the roles' or the zone's
/// problem.
fn route53_unreadable(name: &str, error: &PortError) -> Check {
    if error.no_answer.is_some() && !error.access_denied() {
        return check(
            name,
            Verdict::Unknown,
            format!("Route 53's control plane unreachable: not verified ({error})"),
        );
    }
    check(
        name,
        Verdict::Fail,
        format!("could not read Route 53: {error}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology() -> Topology {
        Topology::parse(
            include_str!("../../../../config/sandbox.toml"),
            "config/sandbox.toml",
            std::iter::empty(),
        )
        .unwrap()
    }

    fn as_deployed(
        wanted: &ServingAlarm,
    ) -> aws_sdk_cloudwatch::types::builders::MetricAlarmBuilder {
        MetricAlarm::builder()
            .alarm_name(&wanted.alarm_name)
            .namespace(wanted.namespace)
            .metric_name(wanted.metric_name)
            .dimensions(
                aws_sdk_cloudwatch::types::Dimension::builder()
                    .name(wanted.dimension_name)
                    .value(&wanted.dimension_value)
                    .build(),
            )
            .statistic(wanted.statistic.into())
            .period(wanted.period_seconds)
            .evaluation_periods(wanted.evaluation_periods)
            .datapoints_to_alarm(wanted.datapoints_to_alarm)
            .threshold(wanted.threshold)
            .comparison_operator(wanted.comparison_operator.into())
            .treat_missing_data(wanted.treat_missing_data)
    }

    #[test]
    fn the_deployed_alarm_passes_and_each_hand_edit_route_53_would_suffer_is_named() {
        let wanted = ServingAlarm::of(&topology());
        assert_eq!(
            alarm_deviations(&wanted, &as_deployed(&wanted).build()),
            Vec::<String>::new()
        );
        let edited = as_deployed(&wanted)
            .statistic("Average".into())
            .period(10)
            .treat_missing_data("breaching")
            .build();
        let deviations = alarm_deviations(&wanted, &edited);
        assert_eq!(deviations.len(), 3, "{deviations:?}");
        assert!(
            deviations[0].contains("statistic Average, wanted Minimum"),
            "{deviations:?}"
        );
        assert!(
            deviations[1].contains("period 10 s, wanted 60 s"),
            "{deviations:?}"
        );
        assert!(
            deviations[2].contains("missing data breaching, wanted ignore"),
            "{deviations:?}"
        );
        // Unset missing-data treatment is CloudWatch's `missing`, not `ignore`.
        let unset = MetricAlarm::builder().build();
        assert!(alarm_deviations(&wanted, &unset)
            .iter()
            .any(|d| d == "missing data missing, wanted ignore"));
    }
}
