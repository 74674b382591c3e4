//! The events AWS emits when primary's registry changes, built in their real shapes (see
//! `tests/fixtures/events/` for captured examples): what EventBridge (CloudTrail API calls),
//! the JITR topic rule and the registry-events topic rule hand the capture Lambda. The
//! sandbox's moto server emits none of them, so the simulated fleet sends them itself.

use dr_core::time::EpochMillis;
use serde_json::{json, Value};

/// Whose API calls these are.
#[derive(Debug, Clone)]
pub struct EventSource {
    /// Primary's account id.
    pub account: String,
    /// Primary's region.
    pub region: String,
}

impl EventSource {
    /// A CloudTrail "AWS API Call via CloudTrail" event for a successful IoT call, as
    /// EventBridge delivers it.
    pub fn api_call(
        &self,
        event_name: &str,
        request: Value,
        response: Value,
        at: EpochMillis,
    ) -> Value {
        let time = rfc3339(at, false);
        json!({
            "version": "0",
            "id": uuid_like(at, event_name),
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.iot",
            "account": self.account,
            "time": time,
            "region": self.region,
            "resources": [],
            "detail": {
                "eventVersion": "1.08",
                "userIdentity": {
                    "type": "AssumedRole",
                    "arn": format!("arn:aws:sts::{}:assumed-role/fleet-provisioner/sandbox", self.account),
                    "accountId": self.account,
                },
                "eventTime": time,
                "eventSource": "iot.amazonaws.com",
                "eventName": event_name,
                "awsRegion": self.region,
                "sourceIPAddress": "127.0.0.1",
                "userAgent": "drctl-sandbox-fleet",
                "requestParameters": request,
                "responseElements": response,
                "readOnly": false,
                "eventType": "AwsApiCall",
                "managementEvent": true,
                "recipientAccountId": self.account,
                "eventCategory": "Management",
            }
        })
    }

    /// The JITR event AWS IoT publishes on `$aws/events/certificates/registered/<caId>`
    /// when a device's first connection registers its certificate PENDING_ACTIVATION.
    pub fn jitr_registered(&self, certificate_id: &str, ca_id: &str, at: EpochMillis) -> Value {
        json!({
            "certificateId": certificate_id,
            "caCertificateId": ca_id,
            "timestamp": at,
            "certificateStatus": "PENDING_ACTIVATION",
            "awsAccountId": self.account,
            "certificateRegistrationTimestamp": at.to_string(),
        })
    }

    /// A registry event (`$aws/events/thing/<name>/<created|updated|deleted>`).
    pub fn thing_event(
        &self,
        operation: &str,
        thing: &str,
        attributes: &Value,
        at: EpochMillis,
    ) -> Value {
        json!({
            "eventType": "THING_EVENT",
            "eventId": uuid_like(at, thing),
            "timestamp": at,
            "operation": operation,
            "accountId": self.account,
            "thingId": uuid_like(at ^ 0x5a5a, thing),
            "thingName": thing,
            "versionNumber": 1,
            "thingTypeName": null,
            "attributes": attributes,
        })
    }

    /// The registry's membership event (`$aws/events/thingGroupMembership/…/added|removed`)
    /// for `thing` joining (`ADDED`) or leaving (`REMOVED`) `group`.
    pub fn membership_event(
        &self,
        operation: &str,
        group: &str,
        thing: &str,
        at: EpochMillis,
    ) -> Value {
        json!({
            "eventType": "THING_GROUP_MEMBERSHIP_EVENT",
            "eventId": uuid_like(at, thing),
            "timestamp": at,
            "operation": operation,
            "accountId": self.account,
            "groupArn": format!("arn:aws:iot:{}:{}:thinggroup/{group}", self.region, self.account),
            "groupId": uuid_like(at ^ 0x3c3c, group),
            "thingArn": format!("arn:aws:iot:{}:{}:thing/{thing}", self.region, self.account),
            "thingId": uuid_like(at ^ 0x5a5a, thing),
            "membershipId": uuid_like(at ^ 0x6969, thing),
        })
    }
}

/// RFC 3339 UTC with seconds, as CloudTrail writes `eventTime`, or with milliseconds.
pub fn rfc3339(at: EpochMillis, with_millis: bool) -> String {
    let secs = at.div_euclid(1000);
    let fraction = if with_millis {
        format!(".{:03}", at.rem_euclid(1000))
    } else {
        String::new()
    };
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{fraction}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A stable, unique-enough event id (the capture Lambda does not interpret it).
fn uuid_like(at: EpochMillis, salt: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (at, salt).hash(&mut hasher);
    let h = hasher.finish();
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        (at as u64) & 0xfff,
        (at as u64) & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0, false), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_763_787_600_000, false), "2025-11-22T05:00:00Z");
        assert_eq!(rfc3339(951_782_400_000, false), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_763_787_600_042, true), "2025-11-22T05:00:00.042Z");
    }

    #[test]
    fn built_events_parse_as_the_capture_lambda_parses_them() {
        let source = EventSource {
            account: "111111111111".into(),
            region: "us-east-1".into(),
        };
        let id = "a".repeat(64);
        let at = 1_763_787_600_000;
        let call = source.api_call(
            "UpdateCertificate",
            json!({"certificateId": id, "newStatus": "REVOKED"}),
            Value::Null,
            at,
        );
        let parsed = dr_core::replication::capture::parse_event(&call).unwrap();
        assert_eq!(parsed.event_time_ms, at);
        assert_eq!(parsed.cause, "UpdateCertificate");
        let jitr = source.jitr_registered(&id, &"b".repeat(64), at);
        assert_eq!(
            dr_core::replication::capture::parse_event(&jitr)
                .unwrap()
                .cause,
            "jitr"
        );
        let thing = source.thing_event("CREATED", "wearable-0001", &json!({}), at);
        assert_eq!(
            dr_core::replication::capture::parse_event(&thing)
                .unwrap()
                .cause,
            "thing-created"
        );
    }
}
