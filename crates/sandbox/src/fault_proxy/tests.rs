//! The proxy's bookkeeping without a socket: fault draws and the quota, outages per region
//! and Route 53's own switch, the control API.

use std::sync::Mutex;

use hyper::StatusCode;

use super::control_server::control_answer;
use super::state::{decide, lock, outage_of, set_outage, Control};
use super::{FaultRule, OutageMode, OutageScope};
use crate::aws_request::ApiRequest;

fn call(service: &str, operation: &str, region: &str) -> ApiRequest {
    let auth = format!("AWS4-HMAC-SHA256 Credential=K/20261203/{region}/{service}/aws4_request");
    let (parts, ()) = hyper::Request::builder()
        .uri("/")
        .header("authorization", auth)
        .body(())
        .unwrap()
        .into_parts();
    let mut call = ApiRequest::classify(&parts, b"");
    call.operation = operation.to_owned();
    call
}

#[test]
fn faults_follow_their_probabilities_and_the_quota() {
    let control = Mutex::new(Control {
        rng: 7,
        rules: vec![FaultRule {
            throttle: 0.3,
            server_error: 0.1,
            ..FaultRule::service("iot")
        }],
        ..Control::default()
    });
    let describe = call("iot", "DescribeCertificate", "us-west-2");
    for _ in 0..10_000 {
        decide(&control, &describe);
    }
    let counts = lock(&control).counts.calls["iot:DescribeCertificate"].clone();
    assert!((2_800..3_200).contains(&counts.throttled), "{counts:?}");
    assert!((850..1_150).contains(&counts.server_errors), "{counts:?}");
    let other = call("sqs", "DescribeCertificate", "us-west-2");
    decide(&control, &other);
    assert_eq!(
        lock(&control).counts.calls["sqs:DescribeCertificate"].forwarded,
        1
    );

    // A quota of 10/s: a burst of 50 gets 10 through.
    let quota = Mutex::new(Control {
        rules: vec![FaultRule {
            max_per_second: Some(10.0),
            ..FaultRule::operation("iot", "DescribeCertificate")
        }],
        ..Control::default()
    });
    for _ in 0..50 {
        decide(&quota, &describe);
    }
    let counts = lock(&quota).counts.calls["iot:DescribeCertificate"].clone();
    assert_eq!((counts.forwarded, counts.throttled), (10, 40), "{counts:?}");
}

#[test]
fn an_outage_takes_the_whole_region_and_route53_has_its_own_switch() {
    let control = Mutex::new(Control::default());
    let primary = OutageScope::Region {
        region: "us-east-1".into(),
    };
    set_outage(&mut lock(&control), primary.clone(), Some(OutageMode::Hang));
    for service in ["iot", "sts", "rds", "monitoring", "kms", "dynamodb"] {
        assert_eq!(
            outage_of(&control, &call(service, "Any", "us-east-1")),
            Some(OutageMode::Hang)
        );
        assert_eq!(
            outage_of(&control, &call(service, "Any", "us-west-2")),
            None
        );
    }
    // Route 53 is not primary's region, even when signed for it.
    assert_eq!(
        outage_of(&control, &call("route53", "GetChange", "us-east-1")),
        None
    );
    set_outage(
        &mut lock(&control),
        OutageScope::Route53,
        Some(OutageMode::Refuse),
    );
    assert_eq!(
        outage_of(&control, &call("route53", "GetChange", "us-west-2")),
        Some(OutageMode::Refuse)
    );
    let counts = lock(&control).counts.clone();
    assert_eq!(counts.region("us-east-1").swallowed, 6);
    assert_eq!(counts.region("us-west-2").swallowed, 0);
    assert_eq!(counts.region("route53").swallowed, 1);
    set_outage(&mut lock(&control), primary, None);
    assert_eq!(outage_of(&control, &call("iot", "Any", "us-east-1")), None);
}

#[test]
fn the_control_api_changes_outages_and_reports_counts() {
    let control = Mutex::new(Control::default());
    let change = br#"{"scope":"region","region":"us-east-1","outage":{"mode":"slow","seconds":2}}"#;
    assert_eq!(
        control_answer("PUT", "outage", change, &control).status(),
        StatusCode::OK
    );
    assert_eq!(
        outage_of(&control, &call("iot", "X", "us-east-1")),
        Some(OutageMode::Slow { seconds: 2.0 })
    );
    let end = br#"{"scope":"region","region":"us-east-1","outage":null}"#;
    control_answer("PUT", "outage", end, &control);
    assert_eq!(outage_of(&control, &call("iot", "X", "us-east-1")), None);
    assert_eq!(
        control_answer("PUT", "outage", b"{}", &control).status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        control_answer("GET", "counts", b"", &control).status(),
        StatusCode::OK
    );
    assert_eq!(
        control_answer("GET", "nothing", b"", &control).status(),
        StatusCode::NOT_FOUND
    );
}

#[test]
fn a_rule_with_times_drops_the_reply_of_its_first_calls_then_forwards_untouched() {
    // Given a rule that forwards PutItem and drops its reply, once
    let control = Mutex::new(Control {
        rules: vec![FaultRule {
            drop_reply: 1.0,
            times: Some(1),
            ..FaultRule::operation("dynamodb", "PutItem")
        }],
        ..Control::default()
    });
    let put = call("dynamodb", "PutItem", "us-west-2");
    // When three PutItems pass
    let faults: Vec<bool> = (0..3)
        .map(|_| {
            matches!(
                decide(&control, &put).0,
                Some(super::rules::Fault::DropReply)
            )
        })
        .collect();
    // Then only the first lost its reply, and all three reached the sandbox
    assert_eq!(faults, [true, false, false]);
    let counts = lock(&control).counts.calls["dynamodb:PutItem"].clone();
    assert_eq!(
        (counts.forwarded, counts.replies_dropped),
        (3, 1),
        "{counts:?}"
    );
}
