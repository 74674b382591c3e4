use proptest::prelude::*;

use super::*;

const P_ACCOUNT: &str = "111111111111";
const P_REGION: &str = "us-east-1";
const D_ACCOUNT: &str = "222222222222";
const D_REGION: &str = "us-west-2";

fn primary_to_dr() -> ArnRewrite {
    ArnRewrite::new(
        P_ACCOUNT.parse().unwrap(),
        P_REGION.parse().unwrap(),
        D_ACCOUNT.parse().unwrap(),
        D_REGION.parse().unwrap(),
    )
}

/// `alerts_to_queue` as an application would write it in `account` and `region`.
fn alerts_to_queue(account: &str, region: &str) -> TopicRule {
    TopicRule {
        name: "alerts_to_queue".to_owned(),
        sql: "SELECT * FROM 'wearables/+/alerts'".to_owned(),
        sql_version: "2016-03-23".to_owned(),
        disabled: false,
        actions: vec![RuleAction {
            kind: ActionKind::Sqs,
            target: format!("https://sqs.{region}.amazonaws.com/{account}/clinician-alerts"),
            role_arn: Some(format!("arn:aws:iam::{account}:role/alerts-to-queue")),
        }],
        error_action: Some(RuleAction {
            kind: ActionKind::Sns,
            target: format!("arn:aws:sns:{region}:{account}:alert-failures"),
            role_arn: Some(format!("arn:aws:iam::{account}:role/alerts-to-queue")),
        }),
    }
}

#[test]
fn a_rule_written_for_each_side_is_equal_after_mapping() {
    // Given the same rule written with each side's account and region
    let primary = alerts_to_queue(P_ACCOUNT, P_REGION);
    let dr = alerts_to_queue(D_ACCOUNT, D_REGION);
    // When primary's is mapped to DR, then DR's routes as primary's does
    assert_eq!(primary.in_dr(&primary_to_dr()), dr);
    let comparison = RuleComparison::of(&[primary], &[dr], &primary_to_dr());
    assert!(comparison.equal(), "{comparison:?}");
    assert!(comparison.only_in_dr.is_empty());
}

#[test]
fn a_rule_naming_primarys_queue_in_dr_differs() {
    // A rule copied verbatim sends DR's alerts back to primary's (failed) region.
    let primary = alerts_to_queue(P_ACCOUNT, P_REGION);
    let copied = primary.clone();
    let differ = differences(&primary.in_dr(&primary_to_dr()), &copied);
    assert_eq!(differ.len(), 2, "{differ:?}");
    assert!(
        differ[0].contains("no sqs action with DR's target and role")
            && differ[0].contains(&format!("{D_ACCOUNT}/clinician-alerts")),
        "{differ:?}"
    );
    assert!(differ[1].contains("error action sns"), "{differ:?}");
}

#[test]
fn sql_version_state_and_kinds_are_compared() {
    let expected = alerts_to_queue(D_ACCOUNT, D_REGION);
    let mut found = expected.clone();
    found.sql = "SELECT * FROM 'wearables/#'".to_owned();
    found.sql_version = "2015-10-08".to_owned();
    found.disabled = true;
    found.actions[0].kind = ActionKind::Sns;
    found.error_action = None;
    let differ = differences(&expected, &found);
    assert_eq!(differ.len(), 5, "{differ:?}");
    assert!(differ[0].starts_with("SQL is"));
    assert!(differ[1].contains("SQL version 2015-10-08 in DR, 2016-03-23 in primary"));
    assert!(differ[2].contains("disabled in DR, enabled in primary"));
    assert!(differ[3].contains("actions [sns] in DR, [sqs] in primary"));
    assert!(differ[4].contains("no error action in DR"));
}

#[test]
fn missing_and_dr_only_rules_are_told_apart() {
    let rewrite = primary_to_dr();
    let primary = vec![alerts_to_queue(P_ACCOUNT, P_REGION)];
    let mut extra = alerts_to_queue(D_ACCOUNT, D_REGION);
    extra.name = "dr_only".to_owned();
    let comparison = RuleComparison::of(&primary, std::slice::from_ref(&extra), &rewrite);
    assert_eq!(comparison.missing, vec!["alerts_to_queue"]);
    assert_eq!(comparison.only_in_dr, vec!["dr_only"]);
    assert!(!comparison.equal());
    // A rule only DR has is no failure by itself.
    let comparison = RuleComparison::of(&[], &[extra], &rewrite);
    assert!(comparison.equal());
    assert_eq!(comparison.only_in_dr, vec!["dr_only"]);
}

#[test]
fn a_rules_dependencies_are_its_targets_and_roles() {
    let mut rule = alerts_to_queue(D_ACCOUNT, D_REGION);
    rule.actions.push(RuleAction {
        kind: ActionKind::Republish,
        target: "clinicians/alerts".to_owned(),
        role_arn: Some(format!("arn:aws:iam::{D_ACCOUNT}:role/republish")),
    });
    rule.actions.push(RuleAction {
        kind: ActionKind::DynamoDbV2,
        target: "alerts".to_owned(),
        role_arn: Some(format!("arn:aws:iam::{D_ACCOUNT}:role/alerts-to-queue")),
    });
    let needs: Vec<String> = rule
        .dependencies()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        needs,
        vec![
            format!("role arn:aws:iam::{D_ACCOUNT}:role/alerts-to-queue"),
            format!("role arn:aws:iam::{D_ACCOUNT}:role/republish"),
            format!("queue clinician-alerts (account {D_ACCOUNT})"),
            format!("topic arn:aws:sns:{D_REGION}:{D_ACCOUNT}:alert-failures"),
            "table alerts".to_owned(),
        ]
    );
}

#[test]
fn the_control_planes_capture_rules_are_recognised() {
    let capture = format!("arn:aws:lambda:{P_REGION}:{P_ACCOUNT}:function:iot-dr-cert-capture");
    let mut rule = alerts_to_queue(P_ACCOUNT, P_REGION);
    assert!(!rule.only_invokes(&capture));
    rule.actions = vec![RuleAction {
        kind: ActionKind::Lambda,
        target: format!("{capture}:live"),
        role_arn: None,
    }];
    assert!(rule.only_invokes(&capture));
    // Another function whose name merely starts the same is the application's.
    rule.actions[0].target = format!("{capture}-shadow");
    assert!(!rule.only_invokes(&capture));
}

#[test]
fn queue_urls_map_account_and_region_and_keep_the_rest() {
    let rewrite = primary_to_dr();
    assert_eq!(
        rewrite_queue_url(
            &format!("https://sqs.{P_REGION}.amazonaws.com/{P_ACCOUNT}/q"),
            &rewrite
        ),
        format!("https://sqs.{D_REGION}.amazonaws.com/{D_ACCOUNT}/q")
    );
    // Someone else's queue stays theirs; a name holding the digits is data.
    let theirs = format!("https://sqs.{P_REGION}.amazonaws.com/333333333333/{P_ACCOUNT}");
    assert_eq!(
        rewrite_queue_url(&theirs, &rewrite),
        format!("https://sqs.{D_REGION}.amazonaws.com/333333333333/{P_ACCOUNT}")
    );
    assert_eq!(rewrite_queue_url("not a url", &rewrite), "not a url");
    assert_eq!(
        queue_of("http://127.0.0.1:5000/222222222222/q"),
        (Some("222222222222"), "q")
    );
}

#[test]
fn an_http_action_needs_an_enabled_destination_for_its_confirmation_url() {
    let url = "https://alerts.example.com/";
    assert!(http_destination(url, [("https://alerts.example.com", "ENABLED")]).is_ok());
    let in_progress = http_destination(url, [(url, "IN_PROGRESS"), ("https://other/", "ENABLED")]);
    assert_eq!(
        in_progress.unwrap_err(),
        "its destination is IN_PROGRESS (it must be confirmed and ENABLED)"
    );
    assert!(http_destination(url, [])
        .unwrap_err()
        .starts_with("no topic rule destination"));
}

#[test]
fn a_rules_role_must_trust_iot_for_drs_account() {
    let trust = |principal: &str, condition: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{{"Service":["{principal}"]}}{condition}}}]}}"#
        )
    };
    assert!(trusts_iot(&trust("iot.amazonaws.com", ""), D_ACCOUNT));
    // As IAM's GetRole returns it: URL-encoded.
    let encoded = trust("iot.amazonaws.com", "")
        .replace('%', "%25")
        .replace('{', "%7B")
        .replace('}', "%7D")
        .replace('"', "%22")
        .replace(':', "%3A");
    assert!(trusts_iot(&encoded, D_ACCOUNT));
    assert!(!trusts_iot(&trust("lambda.amazonaws.com", ""), D_ACCOUNT));
    // A role copied from primary with its confused-deputy guard still naming primary.
    let pinned = |account: &str| {
        format!(r#","Condition":{{"StringEquals":{{"aws:SourceAccount":"{account}"}}}}"#)
    };
    assert!(!trusts_iot(
        &trust("iot.amazonaws.com", &pinned(P_ACCOUNT)),
        D_ACCOUNT
    ));
    assert!(trusts_iot(
        &trust("iot.amazonaws.com", &pinned(D_ACCOUNT)),
        D_ACCOUNT
    ));
    assert!(!trusts_iot("not json", D_ACCOUNT));
    // A role alias's role trusts the credentials provider, a principal of its own: a role
    // trusting IoT rules does not serve devices' credentials requests, nor the reverse.
    let credentials = "credentials.iot.amazonaws.com";
    assert!(trusts_service(
        &trust(credentials, ""),
        credentials,
        D_ACCOUNT
    ));
    assert!(!trusts_service(
        &trust("iot.amazonaws.com", ""),
        credentials,
        D_ACCOUNT
    ));
    assert!(!trusts_iot(&trust(credentials, ""), D_ACCOUNT));
}

fn account() -> impl Strategy<Value = String> {
    "[0-9]{12}"
}

fn region() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("us-east-1".to_owned()),
        Just("us-west-2".to_owned()),
        Just("eu-west-1".to_owned()),
        Just("ap-southeast-2".to_owned()),
    ]
}

/// A rule's shape: its actions as (kind, name, role name), its error action, its state.
type Shape = (
    Vec<(u8, String, Option<String>)>,
    Option<(u8, String)>,
    bool,
);

/// Names of targets and roles; some hold an account's digits or a region's name, which are
/// data there and must survive the mapping unchanged.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,12}",
        Just("alerts-111111111111".to_owned()),
        Just("us-east-1-alerts".to_owned()),
    ]
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        proptest::collection::vec((0..5u8, name(), proptest::option::of(name())), 1..4),
        proptest::option::of((0..5u8, name())),
        any::<bool>(),
    )
}

/// The rule of `shape` as an application writes it in `account` and `region`.
fn render((actions, error, disabled): &Shape, account: &str, region: &str) -> TopicRule {
    let make = |kind: u8, name: &str, role: Option<&str>| {
        let (kind, target) = match kind {
            0 => (
                ActionKind::Sqs,
                format!("https://sqs.{region}.amazonaws.com/{account}/{name}"),
            ),
            1 => (
                ActionKind::Sns,
                format!("arn:aws:sns:{region}:{account}:{name}"),
            ),
            2 => (
                ActionKind::Lambda,
                format!("arn:aws:lambda:{region}:{account}:function:{name}"),
            ),
            3 => (ActionKind::DynamoDbV2, name.to_owned()),
            _ => (ActionKind::Republish, format!("alerts/{name}")),
        };
        RuleAction {
            kind,
            target,
            role_arn: role.map(|r| format!("arn:aws:iam::{account}:role/{r}")),
        }
    };
    TopicRule {
        name: "wearable_offline".to_owned(),
        sql: "SELECT * FROM '$aws/events/presence/disconnected/+'".to_owned(),
        sql_version: "2016-03-23".to_owned(),
        disabled: *disabled,
        actions: actions
            .iter()
            .map(|(k, n, r)| make(*k, n, r.as_deref()))
            .collect(),
        error_action: error.as_ref().map(|(k, n)| make(*k, n, Some("errors"))),
    }
}

/// Two different sides, and one rule's shape written for each of them.
fn two_sides() -> impl Strategy<Value = (ArnRewrite, TopicRule, TopicRule)> {
    (account(), region(), account(), region(), shape())
        .prop_filter("two different sides", |(a, r, b, s, _)| a != b && r != s)
        .prop_map(|(a, r, b, s, shape)| {
            let rewrite = ArnRewrite::new(
                a.parse().unwrap(),
                r.parse().unwrap(),
                b.parse().unwrap(),
                s.parse().unwrap(),
            );
            (rewrite, render(&shape, &a, &r), render(&shape, &b, &s))
        })
}

proptest! {
    /// Mapping invariance: a rule mapped to DR equals itself mapped, differs from nothing,
    /// and maps back to primary's exactly; its dependencies are those of DR's rule.
    #[test]
    fn mapping_preserves_the_rule((rewrite, primary, in_dr) in two_sides()) {
        prop_assert_eq!(primary.in_dr(&rewrite), in_dr.clone());
        prop_assert!(differences(&primary.in_dr(&rewrite), &in_dr).is_empty());
        prop_assert_eq!(in_dr.in_dr(&rewrite.reversed()), primary.clone());
        let (to_account, to_region) = rewrite.target();
        for need in in_dr.dependencies() {
            let text = need.to_string();
            // Every ARN DR's rule depends on is DR's (names are account-free).
            if let Some(arn) = text.split(' ').nth(1).filter(|t| t.starts_with("arn:")) {
                let fields: Vec<&str> = arn.splitn(6, ':').collect();
                prop_assert_eq!(fields[4], to_account.as_str());
                prop_assert!(fields[3].is_empty() || fields[3] == to_region.as_str());
            }
        }
        let comparison = RuleComparison::of(&[primary], &[in_dr], &rewrite);
        prop_assert!(comparison.equal());
    }

    /// A rule left as primary's (not mapped) in DR is always reported when it names an
    /// ARN or a queue of primary's; one that names neither (republish, tables) is equal.
    #[test]
    fn an_unmapped_copy_is_found((rewrite, primary, _) in two_sides()) {
        let names_primary = primary.actions.iter().chain(&primary.error_action).any(|a| {
            a.role_arn.is_some()
                || matches!(a.kind, ActionKind::Sqs | ActionKind::Sns | ActionKind::Lambda)
        });
        let differ = differences(&primary.in_dr(&rewrite), &primary);
        prop_assert_eq!(!differ.is_empty(), names_primary, "{:?}", differ);
    }

    /// The order of a rule's actions does not matter (IoT runs them in parallel).
    #[test]
    fn action_order_is_not_significant((_, primary, _) in two_sides()) {
        let mut reversed = primary.clone();
        reversed.actions.reverse();
        prop_assert!(differences(&primary, &reversed).is_empty());
    }
}
