//! The CloudWatch alarm probe: alarms (metric or composite) in primary, healthy only when
//! every one is found and OK.

use aws_sdk_cloudwatch::types::{AlarmType, StateValue};

/// Every alarm in `alarm_names` found in primary and OK.
pub(super) async fn alarms_ok(
    client: &aws_sdk_cloudwatch::Client,
    alarm_names: &[String],
) -> Result<String, String> {
    let output = client
        .describe_alarms()
        .set_alarm_names(Some(alarm_names.to_vec()))
        .alarm_types(AlarmType::MetricAlarm)
        .alarm_types(AlarmType::CompositeAlarm)
        .send()
        .await
        .map_err(|e| {
            format!(
                "CloudWatch in primary: {}",
                crate::error::port_error("DescribeAlarms", e)
            )
        })?;
    let states: Vec<(&str, Option<&StateValue>)> = output
        .metric_alarms()
        .iter()
        .map(|a| (a.alarm_name().unwrap_or_default(), a.state_value()))
        .chain(
            output
                .composite_alarms()
                .iter()
                .map(|a| (a.alarm_name().unwrap_or_default(), a.state_value())),
        )
        .collect();
    // A missing alarm vouches for nothing; neither does one without data (in a
    // regional outage primary's metrics stop and its alarms go there).
    let missing: Vec<_> = alarm_names
        .iter()
        .filter(|n| !states.iter().any(|(found, _)| found == n))
        .map(String::as_str)
        .collect();
    let not_ok: Vec<String> = states
        .iter()
        .filter(|(_, state)| *state != Some(&StateValue::Ok))
        .map(|(name, state)| format!("{name} {}", state.map_or("UNKNOWN", |s| s.as_str())))
        .collect();
    if !missing.is_empty() {
        Err(format!(
            "alarms not found in primary: {}",
            missing.join(", ")
        ))
    } else if !not_ok.is_empty() {
        Err(format!("not OK: {}", not_ok.join(", ")))
    } else {
        Ok(format!("{} alarms OK", states.len()))
    }
}
