//! The sandbox's Route 53 model (launcher patch): a health check that follows the serving
//! alarm is evaluated period after period from the metric's data, whether or not anyone
//! reads it — so what a heartbeat leaves in the stream between reads decides where DNS
//! points, as on AWS. Fails on plain moto (every health check "Success") and on the old
//! patch (the stream judged only when read, "last known" being the last *read*).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricDatum, Statistic};
use dr_aws::failover::{DataPlaneSwitch, SERVING_METRIC, SERVING_METRIC_DIMENSION};
use dr_aws::AwsSession;
use dr_core::failover::TrafficSwitch;
use dr_core::{Side, Topology};

use crate::helpers::{admin, shared_endpoint, topology_for, unique};

/// The test's alarm period: the serving alarm's 60 s, scaled down so the test takes a
/// minute, not six. The model reads the period from the alarm.
const PERIOD: u64 = 10;

/// One switched record whose serving alarm has a [`PERIOD`] s period.
struct Record {
    topology: Topology,
    session: AwsSession,
    switch: DataPlaneSwitch,
}

impl Record {
    async fn new() -> Self {
        let mut topology = topology_for(&shared_endpoint());
        topology.dns.record = format!("{}.example.com", unique("r53")).parse().unwrap();
        dr_sandbox::provision(&topology).await.unwrap();
        let session = admin(&topology).await;
        let switch = DataPlaneSwitch::new(&session, &topology);
        switch.ensure().await.unwrap();
        // The serving alarm as deployed, with the test's period.
        let alarm = dr_aws::failover::ServingAlarm::of(&topology);
        session
            .cloudwatch(Side::Dr)
            .put_metric_alarm()
            .alarm_name(&alarm.alarm_name)
            .namespace(alarm.namespace)
            .metric_name(alarm.metric_name)
            .dimensions(dimension(&topology))
            .statistic(Statistic::from(alarm.statistic))
            .period(PERIOD as i32)
            .evaluation_periods(alarm.evaluation_periods)
            .datapoints_to_alarm(alarm.datapoints_to_alarm)
            .threshold(alarm.threshold)
            .comparison_operator(ComparisonOperator::from(alarm.comparison_operator))
            .treat_missing_data(alarm.treat_missing_data)
            .send()
            .await
            .unwrap();
        Self {
            topology,
            session,
            switch,
        }
    }

    /// A heartbeat: 1 while primary serves, 0 while DR does.
    async fn publish(&self, side: Side) {
        self.session
            .cloudwatch(Side::Dr)
            .put_metric_data()
            .namespace("IotDr")
            .metric_data(
                MetricDatum::builder()
                    .metric_name(SERVING_METRIC)
                    .dimensions(dimension(&self.topology))
                    .value(if side == Side::Primary { 1.0 } else { 0.0 })
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }

    /// Where Route 53 sends traffic now (GetHealthCheckStatus, as `drctl status` reads it).
    async fn answer(&self) -> Side {
        self.switch.serving().await.unwrap().unwrap()
    }
}

fn dimension(topology: &Topology) -> Dimension {
    Dimension::builder()
        .name(SERVING_METRIC_DIMENSION)
        .value(topology.dns.record.as_str())
        .build()
}

/// Sleep until `offset` seconds into the next period.
async fn next_period(offset: u64) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let next = (now.as_secs() / PERIOD + 1) * PERIOD + offset;
    tokio::time::sleep(Duration::from_secs(next) - now).await;
}

#[tokio::test]
async fn after_a_failover_s_single_0_a_silent_stream_stays_on_dr_until_a_late_1_and_a_level_triggered_heartbeat_keeps_dr(
) {
    // Given two records, both served by primary (read so: a model that remembers the last
    // read would remember primary)
    let (old, new) = tokio::join!(Record::new(), Record::new());
    next_period(1).await;
    old.publish(Side::Primary).await;
    new.publish(Side::Primary).await;
    assert_eq!(
        (old.answer().await, new.answer().await),
        (Side::Primary, Side::Primary)
    );

    // When both fail over: the old heartbeat publishes one 0 (the flip) then nothing while
    // the runbook waits for RDS; the new one publishes 0 every round (here every 3 s)
    next_period(1).await;
    old.publish(Side::Dr).await;
    let heartbeat = async {
        for _ in 0..(4 * PERIOD / 3) {
            new.publish(Side::Dr).await;
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    };
    let observed = async {
        // Nobody reads during the flip's period. Two silent periods later, Route 53 still
        // says what it said when that period was evaluated: unhealthy, DNS on DR.
        next_period(1).await;
        next_period(1).await;
        let silent = (old.answer().await, new.answer().await);
        // Then a late heartbeat 1 (a round that was not fenced) lands in a later period.
        next_period(1).await;
        old.publish(Side::Primary).await;
        new.publish(Side::Primary).await;
        tokio::time::sleep(Duration::from_secs(PERIOD / 2)).await;
        let late = (old.answer().await, new.answer().await);
        // And once that period is over (nothing after the late 1 in the old stream)
        next_period(2).await;
        let after = (old.answer().await, new.answer().await);
        (silent, late, after)
    };
    let ((), (silent, late, after)) = tokio::join!(heartbeat, observed);

    // Then the flip held through the silence on both
    assert_eq!(
        silent,
        (Side::Dr, Side::Dr),
        "the failover's period was evaluated unread"
    );
    // And the late 1 sent the old stream back to the dead primary, while the level-triggered
    // stream (a 0 in every period) kept DR
    assert_eq!(late, (Side::Primary, Side::Dr));
    assert_eq!(
        after.0,
        Side::Primary,
        "the last known status is now healthy"
    );
}
