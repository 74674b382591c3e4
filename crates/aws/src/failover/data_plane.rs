//! The default traffic switch: Route 53 failover records driven by a metric the health
//! checker publishes in DR — a data-plane call at failover, none to Route 53's control
//! plane.

use std::time::Duration;

use aws_sdk_cloudwatch::types::{ComparisonOperator, StandardUnit, Statistic};
use aws_sdk_route53::types::{
    AlarmIdentifier, CloudWatchRegion, HealthCheckConfig, HealthCheckType,
    InsufficientDataHealthStatus, ResourceRecordSet, ResourceRecordSetFailover,
};
use dr_core::failover::TrafficSwitch;
use dr_core::port::PortError;
use dr_core::report::emf::NAMESPACE;
use dr_core::{Side, Topology};

use super::zone::Zone;
use crate::error::port_error;
use crate::AwsSession;

/// The metric the data-plane switch publishes: 1 while primary should serve, 0 after
/// failover. Namespace `IotDr`, dimension [`SERVING_METRIC_DIMENSION`].
pub const SERVING_METRIC: &str = "PrimaryServing";

/// The serving metric's one dimension; its value is the switched DNS name.
pub const SERVING_METRIC_DIMENSION: &str = "Record";

/// The alarm PRIMARY's health check follows.
pub fn serving_alarm_name(topology: &Topology) -> String {
    format!("iot-dr-primary-serving-{}", topology.dns.record)
}

/// The serving alarm and the health check that follows it, as [`DataPlaneSwitch::ensure`]
/// puts them at every cold start and the CDK app deploys them (it reads this through
/// [`crate::contract`]): one definition, so a deploy and a cold start never disagree.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ServingAlarm {
    /// The alarm's name ([`serving_alarm_name`]).
    pub alarm_name: String,
    /// The metric's namespace.
    pub namespace: &'static str,
    /// [`SERVING_METRIC`].
    pub metric_name: &'static str,
    /// [`SERVING_METRIC_DIMENSION`].
    pub dimension_name: &'static str,
    /// The switched record.
    pub dimension_value: String,
    /// Any 0 in the period means DR serves.
    pub statistic: &'static str,
    /// The shortest period of a standard-resolution metric, which Route 53 requires.
    pub period_seconds: i32,
    /// Periods evaluated.
    pub evaluation_periods: i32,
    /// Breaching datapoints that set ALARM.
    pub datapoints_to_alarm: i32,
    /// Below 1 (a 0: DR serves) is ALARM.
    pub threshold: f64,
    /// How the datapoint is compared with the threshold.
    pub comparison_operator: &'static str,
    /// Missing data keeps the last state: a dead checker neither fails over nor back.
    pub treat_missing_data: &'static str,
    /// What PRIMARY's health check reports while the alarm has no data: the last status, so
    /// a silent checker (its Lambda broken) does not move traffic either way.
    pub health_check_insufficient_data: &'static str,
}

impl ServingAlarm {
    /// The serving alarm of `topology`.
    pub fn of(topology: &Topology) -> Self {
        Self {
            alarm_name: serving_alarm_name(topology),
            namespace: NAMESPACE,
            metric_name: SERVING_METRIC,
            dimension_name: SERVING_METRIC_DIMENSION,
            dimension_value: topology.dns.record.to_string(),
            statistic: "Minimum",
            period_seconds: SERVING_ALARM_PERIOD_SECONDS,
            evaluation_periods: 1,
            datapoints_to_alarm: 1,
            threshold: 1.0,
            comparison_operator: "LessThanThreshold",
            treat_missing_data: "ignore",
            health_check_insufficient_data: "LastKnownStatus",
        }
    }
}

/// The default switch: Route 53 failover records whose PRIMARY carries a health check that
/// follows a CloudWatch alarm in the DR region; the checker publishes the alarm's metric.
/// Failing over is one PutMetricData in DR — a data-plane call, none to Route 53's control
/// plane. Route 53 follows the alarm's *data stream*, not its state (Route 53 developer
/// guide, "How Route 53 determines the status of health checks that monitor CloudWatch
/// alarms"), so nothing here sets the alarm's state: what moves traffic is the datapoint.
/// The metric is standard-resolution, as Route 53 requires of an alarm it follows (the
/// `AlarmIdentifier` API reference: high-resolution metrics are not supported), so the
/// alarm's period is 60 s.
#[derive(Debug, Clone)]
pub struct DataPlaneSwitch {
    zone: Zone,
    /// The metric's dimension: one metric and alarm per switched record.
    dimension: aws_sdk_cloudwatch::types::Dimension,
    cloudwatch: aws_sdk_cloudwatch::Client,
    /// Boxed: a definition of a dozen fields would make every `Switch` as large.
    alarm: Box<ServingAlarm>,
    dr_region: String,
    failback_settle: Duration,
    /// Found once: our health check's id never changes.
    health_check: tokio::sync::OnceCell<String>,
}

/// What Route 53's health checkers say of PRIMARY's health check (GetHealthCheckStatus).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route53View {
    /// The health check's id.
    pub health_check_id: String,
    /// Whether most checkers report it healthy (then DNS answers PRIMARY).
    pub healthy: bool,
    /// The checkers' own words, first one.
    pub report: String,
}

/// The serving alarm's period: the shortest a standard-resolution metric allows, and what
/// Route 53 supports ([`dr_core::failover::rto::SERVING_ALARM_PERIOD_SECONDS`]).
pub const SERVING_ALARM_PERIOD_SECONDS: i32 =
    dr_core::failover::rto::SERVING_ALARM_PERIOD_SECONDS as i32;

impl DataPlaneSwitch {
    /// The switch of the topology.
    pub fn new(session: &AwsSession, topology: &Topology) -> Self {
        Self {
            zone: Zone::new(session, topology),
            dimension: aws_sdk_cloudwatch::types::Dimension::builder()
                .name(SERVING_METRIC_DIMENSION)
                .value(topology.dns.record.as_str())
                .build(),
            cloudwatch: session.cloudwatch(Side::Dr),
            alarm: Box::new(ServingAlarm::of(topology)),
            dr_region: topology.dr.region.to_string(),
            failback_settle: Duration::from_secs(topology.failover.failback_settle_seconds),
            health_check: tokio::sync::OnceCell::new(),
        }
    }

    /// The serving alarm's state, as CloudWatch evaluates it (not what Route 53 reads).
    pub async fn alarm_state(&self) -> Result<Option<String>, PortError> {
        let output = self
            .cloudwatch
            .describe_alarms()
            .alarm_names(&self.alarm.alarm_name)
            .send()
            .await
            .map_err(|e| port_error("DescribeAlarms", e))?;
        Ok(output
            .metric_alarms()
            .first()
            .and_then(|a| a.state_value())
            .map(|s| s.as_str().to_owned()))
    }

    /// What Route 53 sees of PRIMARY's health check: a Route 53 API call (its control plane,
    /// us-east-1), for operators only — never on the failover path.
    pub async fn route53_view(&self) -> Result<Route53View, PortError> {
        let id = self
            .health_check
            .get_or_try_init(|| self.find_health_check())
            .await?
            .clone();
        let status = self
            .zone
            .route53
            .get_health_check_status()
            .health_check_id(&id)
            .send()
            .await
            .map_err(|e| port_error("GetHealthCheckStatus", e))?;
        let reports: Vec<&str> = status
            .health_check_observations()
            .iter()
            .filter_map(|o| o.status_report().and_then(|r| r.status()))
            .collect();
        let healthy = reports.iter().filter(|r| r.starts_with("Success")).count();
        Ok(Route53View {
            health_check_id: id,
            healthy: healthy * 2 > reports.len(),
            report: reports
                .first()
                .map_or_else(|| "no observations".to_owned(), |r| (*r).to_owned()),
        })
    }

    /// Our health check, found by the alarm it follows; an error if there is none.
    async fn find_health_check(&self) -> Result<String, PortError> {
        self.existing_health_check().await?.ok_or_else(|| {
            PortError::permanent(
                "ListHealthChecks",
                format!(
                    "no Route 53 health check follows {}: deploy the DR stack",
                    self.alarm.alarm_name
                ),
            )
        })
    }

    async fn publish(&self, side: Side) -> Result<(), PortError> {
        let value = match side {
            Side::Primary => 1.0,
            Side::Dr => 0.0,
        };
        self.cloudwatch
            .put_metric_data()
            .namespace(NAMESPACE)
            .metric_data(
                aws_sdk_cloudwatch::types::MetricDatum::builder()
                    .metric_name(SERVING_METRIC)
                    .dimensions(self.dimension.clone())
                    .value(value)
                    .unit(StandardUnit::None)
                    // Standard resolution: Route 53 follows no high-resolution metric.
                    .storage_resolution(60)
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| port_error("PutMetricData", e))
    }

    /// Our health check: the CLOUDWATCH_METRIC one that follows our alarm (found by what it
    /// follows, so a deleted one is simply created again).
    async fn health_check_id(&self) -> Result<String, PortError> {
        if let Some(found) = self.existing_health_check().await? {
            return Ok(found);
        }
        self.create_health_check().await
    }

    async fn existing_health_check(&self) -> Result<Option<String>, PortError> {
        Ok(self.our_health_check().await?.map(|h| h.id().to_owned()))
    }

    /// The health check that follows our alarm, as Route 53 holds it (for readiness).
    pub(crate) async fn our_health_check(
        &self,
    ) -> Result<Option<aws_sdk_route53::types::HealthCheck>, PortError> {
        let mut marker = None;
        loop {
            let page = self
                .zone
                .route53
                .list_health_checks()
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| port_error("ListHealthChecks", e))?;
            let ours = page.health_checks().iter().find(|h| {
                h.health_check_config().is_some_and(|c| {
                    c.r#type() == &HealthCheckType::CloudwatchMetric
                        && c.alarm_identifier().is_some_and(|a| {
                            a.region().as_str() == self.dr_region
                                && a.name() == self.alarm.alarm_name
                        })
                })
            });
            if let Some(found) = ours {
                return Ok(Some(found.clone()));
            }
            marker = page.next_marker().map(str::to_owned);
            if !page.is_truncated() || marker.is_none() {
                return Ok(None);
            }
        }
    }

    async fn create_health_check(&self) -> Result<String, PortError> {
        let config = HealthCheckConfig::builder()
            .r#type(HealthCheckType::CloudwatchMetric)
            .alarm_identifier(
                AlarmIdentifier::builder()
                    .region(CloudWatchRegion::from(self.dr_region.as_str()))
                    .name(&self.alarm.alarm_name)
                    .build()
                    .map_err(|e| PortError::permanent("AlarmIdentifier", e.to_string()))?,
            )
            .insufficient_data_health_status(InsufficientDataHealthStatus::from(
                self.alarm.health_check_insufficient_data,
            ))
            .build()
            .map_err(|e| PortError::permanent("HealthCheckConfig", e.to_string()))?;
        let created = self
            .zone
            .route53
            .create_health_check()
            // Unique: Route 53 refuses a caller reference it has seen, even after a delete.
            .caller_reference(format!(
                "iot-dr-primary-{}-{}",
                self.zone.record,
                dr_core::time::now_millis()
            ))
            .health_check_config(config)
            .send()
            .await
            .map_err(|e| port_error("CreateHealthCheck", e))?;
        created
            .health_check()
            .map(|h| h.id().to_owned())
            .ok_or_else(|| {
                PortError::permanent("CreateHealthCheck", "no health check in the answer")
            })
    }

    /// The alarm's definition (what `ensure` puts and the CDK app deploys).
    pub(crate) fn definition(&self) -> &ServingAlarm {
        &self.alarm
    }

    /// The record sets of the switched name, as Route 53 holds them (for readiness).
    pub(crate) async fn record_sets(&self) -> Result<Vec<ResourceRecordSet>, PortError> {
        let zone_id = self.zone.zone_id().await?;
        self.zone.record_sets(&zone_id).await
    }

    /// The record `side` must have: PRIMARY with `health_check`, SECONDARY without.
    pub(crate) fn failover_record(
        &self,
        side: Side,
        health_check: Option<&str>,
    ) -> Result<ResourceRecordSet, PortError> {
        let mut set = self.zone.cname(self.zone.target(side))?;
        set.set_identifier = Some(match side {
            Side::Primary => "primary".to_owned(),
            Side::Dr => "dr".to_owned(),
        });
        set.failover = Some(match side {
            Side::Primary => ResourceRecordSetFailover::Primary,
            Side::Dr => ResourceRecordSetFailover::Secondary,
        });
        set.health_check_id = health_check.map(str::to_owned);
        Ok(set)
    }
}

impl TrafficSwitch for DataPlaneSwitch {
    async fn ensure(&self) -> Result<(), PortError> {
        let alarm = &self.alarm;
        self.cloudwatch
            .put_metric_alarm()
            .alarm_name(&alarm.alarm_name)
            .alarm_description("Route 53 sends IoT traffic to DR while this is in ALARM (driven by the DR health checker)")
            .namespace(alarm.namespace)
            .metric_name(alarm.metric_name)
            .dimensions(self.dimension.clone())
            .statistic(Statistic::from(alarm.statistic))
            .period(alarm.period_seconds)
            .evaluation_periods(alarm.evaluation_periods)
            .datapoints_to_alarm(alarm.datapoints_to_alarm)
            .threshold(alarm.threshold)
            .comparison_operator(ComparisonOperator::from(alarm.comparison_operator))
            .treat_missing_data(alarm.treat_missing_data)
            .send()
            .await
            .map_err(|e| port_error("PutMetricAlarm", e))?;
        let zone_id = self.zone.zone_id().await?;
        let health_check = self.health_check_id().await?;
        let wanted = [
            self.failover_record(Side::Primary, Some(&health_check))?,
            self.failover_record(Side::Dr, None)?,
        ];
        let existing = self.zone.record_sets(&zone_id).await?;
        let missing: Vec<_> = wanted
            .iter()
            .filter(|w| {
                !existing.iter().any(|e| {
                    e.set_identifier() == w.set_identifier()
                        && e.failover() == w.failover()
                        && e.health_check_id() == w.health_check_id()
                        && e.resource_records() == w.resource_records()
                })
            })
            .cloned()
            .collect();
        if !missing.is_empty() {
            self.zone.change(&zone_id, missing).await?;
        }
        Ok(())
    }

    async fn point_to(&self, side: Side) -> Result<(), PortError> {
        self.publish(side).await?;
        if side == Side::Primary {
            // Route 53 reads the alarm's data stream: Minimum over the 60 s period. While a
            // DR datapoint (0) is in that period it still says ALARM; keep publishing 1 until
            // the period holds nothing else, so the failback is in effect when this returns.
            let settled = std::time::Instant::now() + self.failback_settle;
            while std::time::Instant::now() < settled {
                tokio::time::sleep(Duration::from_secs(10).min(self.failback_settle)).await;
                self.publish(side).await?;
            }
        }
        Ok(())
    }

    async fn heartbeat(&self, side: Side) -> Result<(), PortError> {
        self.publish(side).await
    }

    /// What Route 53 answers: PRIMARY while its health check is healthy, else DR.
    async fn serving(&self) -> Result<Option<Side>, PortError> {
        let view = self.route53_view().await?;
        Ok(Some(if view.healthy {
            Side::Primary
        } else {
            Side::Dr
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serving_alarm_names_only_values_the_sdk_knows() {
        // Given the alarm's definition as text (what the CDK app deploys)
        let t = dr_core::Topology::parse(
            include_str!("../../../../config/sandbox.toml"),
            "config/sandbox.toml",
            std::iter::empty(),
        )
        .unwrap();
        let alarm = ServingAlarm::of(&t);
        // Then each text is a known value of the SDK's enums (what ensure puts), not an
        // `Unknown` that CloudWatch would refuse only at run time
        assert_eq!(Statistic::from(alarm.statistic), Statistic::Minimum);
        assert_eq!(
            ComparisonOperator::from(alarm.comparison_operator),
            ComparisonOperator::LessThanThreshold
        );
        assert_eq!(
            InsufficientDataHealthStatus::from(alarm.health_check_insufficient_data),
            InsufficientDataHealthStatus::LastKnownStatus
        );
        assert_eq!(alarm.period_seconds, 60);
        assert_eq!(alarm.alarm_name, "iot-dr-primary-serving-iot.example.com");
    }
}
