//! Flow D's ports on AWS, all in the DR account: the state table (DynamoDB, conditional
//! writes), operators' SNS topic, the database restore (RDS), and the two traffic switches
//! (Route 53 failover records driven by a CloudWatch metric; or a direct record UPSERT).

use dr_core::port::PortError;
use std::time::Duration;

use aws_sdk_cloudwatch::types::{ComparisonOperator, StandardUnit, Statistic};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_route53::types::{
    AlarmIdentifier, Change, ChangeAction, ChangeBatch, ChangeStatus, CloudWatchRegion,
    HealthCheckConfig, HealthCheckType, InsufficientDataHealthStatus, ResourceRecord,
    ResourceRecordSet, ResourceRecordSetFailover, RrType,
};
use dr_core::failover::{AuditEntry, FailoverRecord, Notifier, StateStore, Stored, TrafficSwitch};
use dr_core::snapshots::SnapshotRecovery;
use dr_core::time::SystemClock;
use dr_core::{Side, Topology};

use crate::backups::RdsReplicatedBackups;
use crate::error::port_error;
use crate::rds::RdsStores;
use crate::versioned::VersionedItem;
use crate::AwsSession;

/// The key of the state item; audit items are `audit#<runbook id>`.
const STATE_KEY: &str = "state";

/// The failover state table: `id` (S) partition key; the state item is fenced by its
/// version, audit items are written once per runbook.
#[derive(Debug, Clone)]
pub struct DynamoStateStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    state: VersionedItem,
}

impl DynamoStateStore {
    /// The state store in DR.
    pub fn new(session: &AwsSession, topology: &Topology) -> Self {
        let client = session.dynamodb(Side::Dr);
        let table = topology.failover.state_table.to_string();
        Self {
            state: VersionedItem {
                client: client.clone(),
                table: table.clone(),
                key: ("id", STATE_KEY.to_owned()),
                document: "record",
                version: "version",
            },
            client,
            table,
        }
    }

    /// The audit entries, newest first (for `drctl status` and tests).
    pub async fn audit_entries(&self) -> Result<Vec<AuditEntry>, PortError> {
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(id, :audit)")
                .expression_attribute_values(":audit", AttributeValue::S("audit#".to_owned()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| port_error("Scan", e))?;
            for item in page.items() {
                if let Some(entry) = item
                    .get("entry")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|s| serde_json::from_str::<AuditEntry>(s).ok())
                {
                    entries.push(entry);
                }
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.runbook.started_ms));
        Ok(entries)
    }
}

impl StateStore for DynamoStateStore {
    async fn load(&self) -> Result<Option<Stored>, PortError> {
        Ok(self
            .state
            .load()
            .await?
            .map(|(record, version)| Stored { record, version }))
    }

    async fn save(&self, record: &FailoverRecord, expected: u64) -> Result<bool, PortError> {
        // The mode in its own attribute, for a person reading the table.
        let mode = AttributeValue::S(record.state.mode.to_string());
        self.state
            .save(record, expected, vec![("mode", mode)])
            .await
    }

    async fn audit(&self, entry: &AuditEntry) -> Result<(), PortError> {
        let json = serde_json::to_string(entry)
            .map_err(|e| PortError::permanent("PutItem", e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item(
                "id",
                AttributeValue::S(format!("audit#{}", entry.runbook.id)),
            )
            .item("entry", AttributeValue::S(json))
            .item(
                "kind",
                AttributeValue::S(format!("{:?}", entry.runbook.kind)),
            )
            .item(
                "written_at",
                AttributeValue::N(entry.written_ms.to_string()),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| port_error("PutItem", e))
    }
}

/// Operators' topic in DR.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    /// The operator topic of the topology.
    pub fn new(session: &AwsSession, topology: &Topology) -> Self {
        Self {
            client: session.sns(Side::Dr),
            topic_arn: operator_topic_arn(topology),
        }
    }
}

/// The operator topic's ARN (in DR).
pub fn operator_topic_arn(topology: &Topology) -> String {
    format!(
        "arn:aws:sns:{}:{}:{}",
        topology.dr.region, topology.dr.account_id, topology.failover.operator_topic
    )
}

impl Notifier for SnsNotifier {
    async fn notify(&self, subject: &str, message: &str) -> Result<(), PortError> {
        // SNS subjects are at most 100 printable ASCII characters.
        let subject: String = subject
            .chars()
            .filter(|c| c.is_ascii() && !c.is_ascii_control())
            .take(100)
            .collect();
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| port_error("Publish", e))
    }
}

/// Database recovery in DR: flow C's use case on RDS. Every protected database is restored
/// in the DR region under the identifier it has in primary, from the source holding the
/// newest data: DR's snapshot copy (into DR's account) or RDS's replicated automated
/// backups (into primary's account in the DR region). Both are read and restored in the DR
/// region only.
pub type RdsRecovery = SnapshotRecovery<RdsStores, RdsReplicatedBackups, SystemClock>;

/// The recovery of the topology's `[snapshots]` databases.
pub fn rds_recovery(session: &AwsSession, topology: &Topology) -> RdsRecovery {
    SnapshotRecovery {
        stores: RdsStores::new(session, topology),
        replicated: RdsReplicatedBackups::new(session, topology),
        databases: topology.snapshot_policies(),
        dr_region: topology.dr.region.to_string(),
        clock: SystemClock,
    }
}

/// The metric the data-plane switch publishes: 1 while primary should serve, 0 after
/// failover. Namespace `IotDr`, dimension `Record` (the switched DNS name).
pub const SERVING_METRIC: &str = "PrimaryServing";
use dr_core::report::emf::NAMESPACE;

/// The alarm PRIMARY's health check follows.
pub fn serving_alarm_name(topology: &Topology) -> String {
    format!("iot-dr-primary-serving-{}", topology.dns.record)
}

/// Route 53 pieces both switches share.
#[derive(Debug, Clone)]
struct Zone {
    route53: aws_sdk_route53::Client,
    zone: String,
    /// Looked up once: a zone's id never changes, and each lookup is a Route 53 call.
    zone_id: tokio::sync::OnceCell<String>,
    record: String,
    primary_target: String,
    dr_target: String,
    ttl: i64,
}

impl Zone {
    fn new(session: &AwsSession, topology: &Topology) -> Self {
        Self {
            route53: session.route53(Side::Dr),
            zone: topology.dns.zone.to_string(),
            zone_id: tokio::sync::OnceCell::new(),
            record: topology.dns.record.to_string(),
            primary_target: topology.dns.primary_target.to_string(),
            dr_target: topology.dns.dr_target.to_string(),
            ttl: i64::from(topology.dns.ttl_seconds),
        }
    }

    fn target(&self, side: Side) -> &str {
        match side {
            Side::Primary => &self.primary_target,
            Side::Dr => &self.dr_target,
        }
    }

    async fn zone_id(&self) -> Result<String, PortError> {
        self.zone_id
            .get_or_try_init(|| self.find_zone_id())
            .await
            .cloned()
    }

    async fn find_zone_id(&self) -> Result<String, PortError> {
        let wanted = format!("{}.", self.zone.trim_end_matches('.'));
        let output = self
            .route53
            .list_hosted_zones_by_name()
            .dns_name(&wanted)
            .send()
            .await
            .map_err(|e| port_error("ListHostedZonesByName", e))?;
        output
            .hosted_zones()
            .iter()
            .find(|z| z.name() == wanted)
            .map(|z| z.id().trim_start_matches("/hostedzone/").to_owned())
            .ok_or_else(|| {
                PortError::permanent(
                    "ListHostedZonesByName",
                    format!("no hosted zone {wanted} in the DR account: create it (the DR stack does) or fix [dns] zone"),
                )
            })
    }

    /// The record sets named `record`.
    async fn record_sets(&self, zone_id: &str) -> Result<Vec<ResourceRecordSet>, PortError> {
        let wanted = format!("{}.", self.record.trim_end_matches('.'));
        let output = self
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .start_record_name(&wanted)
            .send()
            .await
            .map_err(|e| port_error("ListResourceRecordSets", e))?;
        Ok(output
            .resource_record_sets()
            .iter()
            .filter(|r| r.name().trim_end_matches('.') == wanted.trim_end_matches('.'))
            .cloned()
            .collect())
    }

    async fn change(&self, zone_id: &str, sets: Vec<ResourceRecordSet>) -> Result<(), PortError> {
        let changes = sets
            .into_iter()
            .map(|set| {
                Change::builder()
                    .action(ChangeAction::Upsert)
                    .resource_record_set(set)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PortError::permanent("ChangeResourceRecordSets", e.to_string()))?;
        let batch = ChangeBatch::builder()
            .comment("drctl failover")
            .set_changes(Some(changes))
            .build()
            .map_err(|e| PortError::permanent("ChangeResourceRecordSets", e.to_string()))?;
        let output = self
            .route53
            .change_resource_record_sets()
            .hosted_zone_id(zone_id)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| port_error("ChangeResourceRecordSets", e))?;
        let change_id = output
            .change_info()
            .map(|c| c.id().to_owned())
            .unwrap_or_default();
        // Route 53 propagates to all its servers within about a minute.
        for _ in 0..60 {
            let status = self
                .route53
                .get_change()
                .id(&change_id)
                .send()
                .await
                .map_err(|e| port_error("GetChange", e))?;
            if status.change_info().map(|c| c.status()) == Some(&ChangeStatus::Insync) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        Err(PortError::transient(
            "GetChange",
            format!("change {change_id} not INSYNC after 120 s"),
        ))
    }

    fn cname(&self, target: &str) -> Result<ResourceRecordSet, PortError> {
        ResourceRecordSet::builder()
            .name(&self.record)
            .r#type(RrType::Cname)
            .ttl(self.ttl)
            .resource_records(
                ResourceRecord::builder()
                    .value(target)
                    .build()
                    .map_err(|e| PortError::permanent("ResourceRecord", e.to_string()))?,
            )
            .build()
            .map_err(|e| PortError::permanent("ResourceRecordSet", e.to_string()))
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
    alarm: String,
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
                .name("Record")
                .value(topology.dns.record.as_str())
                .build(),
            cloudwatch: session.cloudwatch(Side::Dr),
            alarm: serving_alarm_name(topology),
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
            .alarm_names(&self.alarm)
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
                    self.alarm
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
                            a.region().as_str() == self.dr_region && a.name() == self.alarm
                        })
                })
            });
            if let Some(found) = ours {
                return Ok(Some(found.id().to_owned()));
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
                    .name(&self.alarm)
                    .build()
                    .map_err(|e| PortError::permanent("AlarmIdentifier", e.to_string()))?,
            )
            // The checker silent (e.g. its Lambda broken) must not move traffic either way.
            .insufficient_data_health_status(InsufficientDataHealthStatus::LastKnownStatus)
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

    fn failover_record(
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
        // Missing data keeps the last state: a dead checker neither fails over nor back.
        self.cloudwatch
            .put_metric_alarm()
            .alarm_name(&self.alarm)
            .alarm_description("Route 53 sends IoT traffic to DR while this is in ALARM (driven by the DR health checker)")
            .namespace(NAMESPACE)
            .metric_name(SERVING_METRIC)
            .dimensions(self.dimension.clone())
            .statistic(Statistic::Minimum)
            .period(SERVING_ALARM_PERIOD_SECONDS)
            .evaluation_periods(1)
            .datapoints_to_alarm(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::LessThanThreshold)
            .treat_missing_data("ignore")
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

/// The simple switch: UPSERT the record to the side's target and wait for INSYNC. A
/// Route 53 control-plane call at failover time (its control plane lives in us-east-1),
/// so only for setups that accept that.
#[derive(Debug, Clone)]
pub struct DnsApiSwitch {
    zone: Zone,
}

impl DnsApiSwitch {
    /// The switch of the topology.
    pub fn new(session: &AwsSession, topology: &Topology) -> Self {
        Self {
            zone: Zone::new(session, topology),
        }
    }

    /// The same switch on `[dns] drill_record`: what drills flip, never production routing.
    pub fn drill(session: &AwsSession, topology: &Topology) -> Self {
        let mut zone = Zone::new(session, topology);
        zone.record = topology.dns.drill_record.to_string();
        Self { zone }
    }
}

impl TrafficSwitch for DnsApiSwitch {
    async fn ensure(&self) -> Result<(), PortError> {
        let zone_id = self.zone.zone_id().await?;
        if self.zone.record_sets(&zone_id).await?.is_empty() {
            self.zone
                .change(&zone_id, vec![self.zone.cname(&self.zone.primary_target)?])
                .await?;
        }
        Ok(())
    }

    async fn point_to(&self, side: Side) -> Result<(), PortError> {
        let zone_id = self.zone.zone_id().await?;
        self.zone
            .change(&zone_id, vec![self.zone.cname(self.zone.target(side))?])
            .await
    }

    async fn heartbeat(&self, _side: Side) -> Result<(), PortError> {
        Ok(())
    }

    async fn serving(&self) -> Result<Option<Side>, PortError> {
        let zone_id = self.zone.zone_id().await?;
        let sets = self.zone.record_sets(&zone_id).await?;
        let value = sets
            .first()
            .and_then(|s| s.resource_records().first())
            .map(|r| r.value().trim_end_matches('.').to_owned());
        Ok(match value {
            Some(v) if v == self.zone.primary_target => Some(Side::Primary),
            Some(v) if v == self.zone.dr_target => Some(Side::Dr),
            _ => None,
        })
    }
}

/// Either switch, as the topology's `[failover] flip` picks.
#[derive(Debug, Clone)]
pub enum Switch {
    /// Route 53 failover records driven by a metric.
    DataPlane(DataPlaneSwitch),
    /// Direct UPSERT.
    DnsApi(DnsApiSwitch),
}

impl Switch {
    /// The configured switch.
    pub fn new(session: &AwsSession, topology: &Topology) -> Self {
        match topology.failover.flip {
            dr_core::FlipMode::DataPlane => {
                Switch::DataPlane(DataPlaneSwitch::new(session, topology))
            }
            dr_core::FlipMode::DnsApi => Switch::DnsApi(DnsApiSwitch::new(session, topology)),
        }
    }
}

impl TrafficSwitch for Switch {
    async fn ensure(&self) -> Result<(), PortError> {
        match self {
            Switch::DataPlane(s) => s.ensure().await,
            Switch::DnsApi(s) => s.ensure().await,
        }
    }

    async fn point_to(&self, side: Side) -> Result<(), PortError> {
        match self {
            Switch::DataPlane(s) => s.point_to(side).await,
            Switch::DnsApi(s) => s.point_to(side).await,
        }
    }

    async fn heartbeat(&self, side: Side) -> Result<(), PortError> {
        match self {
            Switch::DataPlane(s) => s.heartbeat(side).await,
            Switch::DnsApi(s) => s.heartbeat(side).await,
        }
    }

    async fn serving(&self) -> Result<Option<Side>, PortError> {
        match self {
            Switch::DataPlane(s) => s.serving().await,
            Switch::DnsApi(s) => s.serving().await,
        }
    }
}

/// Flow D's ports wired for one topology: what the health checker, `drctl` and the tests
/// build a [`Controller`](dr_core::failover::Controller) from.
#[derive(Debug)]
pub struct FailoverPorts<'a> {
    /// The state table.
    pub store: DynamoStateStore,
    /// The configured traffic switch.
    pub switch: Switch,
    /// Operators' topic.
    pub notifier: SnsNotifier,
    /// Database restore in DR.
    pub recovery: RdsRecovery,
    topology: &'a Topology,
}

impl<'a> FailoverPorts<'a> {
    /// The ports of `topology`, reached through `session`.
    pub fn new(session: &'a AwsSession, topology: &'a Topology) -> Self {
        Self {
            store: DynamoStateStore::new(session, topology),
            switch: Switch::new(session, topology),
            notifier: SnsNotifier::new(session, topology),
            recovery: rds_recovery(session, topology),
            topology,
        }
    }

    /// The controller over these ports, with the topology's thresholds.
    pub fn controller(
        &self,
    ) -> dr_core::failover::Controller<'_, DynamoStateStore, Switch, SnsNotifier, RdsRecovery> {
        dr_core::failover::Controller {
            store: &self.store,
            switch: &self.switch,
            notifier: &self.notifier,
            database: &self.recovery,
            settings: self.topology.failover.settings(),
            dr_region: self.topology.dr.region.to_string(),
        }
    }
}
