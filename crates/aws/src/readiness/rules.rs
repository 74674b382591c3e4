//! The application's alert path in DR: every topic rule of primary in DR, routing as
//! primary's does (compared by [`dr_core::topic_rules`]), its targets and roles there.

use std::collections::BTreeMap;

use aws_sdk_iot::types::Action;
use dr_core::port::PortError;
use dr_core::replication::ArnRewrite;
use dr_core::topic_rules::{
    http_destination, trusts_iot, ActionKind, Dependency, RuleAction, RuleComparison, TopicRule,
    IOT_PRINCIPAL,
};
use dr_core::{Side, Topology};
use futures_util::{StreamExt, TryStreamExt};

use super::{check, unreadable, Check, Verdict};
use crate::{names, AwsSession};

const NAME: &str = "topic rules in DR";

/// GetTopicRule calls in flight per side.
const RULES_READ_AT_ONCE: usize = 8;

/// AWS's SQL version when a rule names none.
const DEFAULT_SQL_VERSION: &str = "2015-10-08";

/// Every topic rule of primary in DR with the same SQL, SQL version, state, actions and
/// error action (targets and roles mapped to DR), and what those actions deliver to
/// present in DR. The control plane's own capture rules (primary only, by design) are
/// left out; a rule only DR has is a warning.
pub(super) async fn topic_rules(session: &AwsSession, topology: &Topology) -> Check {
    let (primary, dr) = tokio::join!(
        rules_of(session, Side::Primary),
        rules_of(session, Side::Dr)
    );
    let primary = match primary {
        Ok(rules) => rules,
        Err(e) => return unreadable(NAME, Side::Primary, topology, &e),
    };
    let dr = match dr {
        Ok(rules) => rules,
        Err(e) => return unreadable(NAME, Side::Dr, topology, &e),
    };
    let capture = format!(
        "arn:aws:lambda:{}:{}:function:{}",
        topology.primary.region,
        topology.primary.account_id,
        names::function_name("cert-capture")
    );
    let (ours, primary): (Vec<_>, Vec<_>) =
        primary.into_iter().partition(|r| r.only_invokes(&capture));
    let rewrite = ArnRewrite::primary_to_dr(topology);
    let comparison = RuleComparison::of(&primary, &dr, &rewrite);

    // What primary's rules need in DR, each looked up once.
    let mut needs: BTreeMap<Dependency, Vec<&str>> = BTreeMap::new();
    for rule in &primary {
        for need in rule.in_dr(&rewrite).dependencies() {
            needs.entry(need).or_default().push(&rule.name);
        }
    }
    // HTTP actions need a destination in DR: listed once, when a rule has one.
    let destinations = if needs
        .keys()
        .any(|n| matches!(n, Dependency::HttpDestination(_)))
    {
        Some(http_destinations(&session.iot(Side::Dr)).await)
    } else {
        None
    };
    let mut absent = Vec::new();
    let mut unverified = Vec::new();
    for (need, rules) in &needs {
        let rules = rules.join(", ");
        let lookup = match (need, &destinations) {
            (Dependency::HttpDestination(url), Some(Ok(found))) => {
                match http_destination(url, found.iter().map(|(u, s)| (u.as_str(), s.as_str()))) {
                    Ok(()) => Lookup::Present,
                    Err(why) => Lookup::Wrong(why),
                }
            }
            (Dependency::HttpDestination(_), Some(Err(e))) => Lookup::Unreadable(e.clone()),
            _ => present_in_dr(session, topology, need).await,
        };
        match lookup {
            Lookup::Present => {}
            Lookup::Absent => absent.push(format!("{need} missing in DR (used by {rules})")),
            Lookup::Wrong(why) => absent.push(format!("{need} in DR: {why} (used by {rules})")),
            // IAM is global, its control plane in us-east-1: a role unanswered there is
            // not DR's regional failure (and no call on the failover path needs IAM's).
            Lookup::Unreadable(e)
                if matches!(need, Dependency::Role(_)) && e.no_answer.is_some() =>
            {
                unverified.push(format!("{need} (IAM did not answer)"))
            }
            Lookup::Unreadable(e) => absent.push(format!(
                "{need} could not be read in DR ({e}; used by {rules})"
            )),
            Lookup::NotVerified(why) => unverified.push(format!("{need} ({why})")),
        }
    }

    let mut problems: Vec<String> = comparison
        .missing
        .iter()
        .map(|r| format!("rule {r} missing in DR: messages it selects are dropped there"))
        .collect();
    problems.extend(
        comparison
            .differ
            .iter()
            .map(|(rule, differ)| format!("rule {rule}: {}", differ.join(", "))),
    );
    problems.extend(absent);
    let presence = primary.iter().filter(|r| r.on_presence_events()).count();
    let found = format!(
        "{} rule(s) of primary ({presence} on lifecycle events)",
        primary.len()
    );
    let mut not_verified = if unverified.is_empty() {
        String::new()
    } else {
        format!(
            "; present in DR not verified by readiness: {}",
            unverified.join(", ")
        )
    };
    if !ours.is_empty() {
        not_verified.push_str(&format!(
            "; {} control-plane capture rule(s) not compared (primary only, by design)",
            ours.len()
        ));
    }
    let only_in_dr = if comparison.only_in_dr.is_empty() {
        String::new()
    } else {
        format!(
            "; only in DR: {} (routes DR has and primary has not: remove them or add them to primary)",
            comparison.only_in_dr.join(", ")
        )
    };
    if !problems.is_empty() {
        let shown: Vec<_> = problems.iter().take(10).cloned().collect();
        check(
            NAME,
            Verdict::Fail,
            format!(
                "{}{}; alerts published in DR would not reach their targets — deploy the application's rules, their targets and roles to DR with DR's ARNs ({found}{only_in_dr}{not_verified})",
                shown.join("; "),
                if problems.len() > shown.len() { "; …" } else { "" }
            ),
        )
    } else if !comparison.only_in_dr.is_empty() {
        check(
            NAME,
            Verdict::Warn,
            format!("{found} in DR as in primary{only_in_dr}{not_verified}"),
        )
    } else {
        check(
            NAME,
            Verdict::Ok,
            format!("{found} in DR as in primary, with their targets and roles{not_verified}"),
        )
    }
}

/// Every topic rule of `side`: listed with a paginator, each read in full.
async fn rules_of(session: &AwsSession, side: Side) -> Result<Vec<TopicRule>, PortError> {
    let iot = session.iot(side);
    let listed = iot
        .list_topic_rules()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| crate::error::port_error("ListTopicRules", e))?;
    let read = listed.iter().filter_map(|r| r.rule_name()).map(|name| {
        let iot = &iot;
        async move {
            let got = iot
                .get_topic_rule()
                .rule_name(name)
                .send()
                .await
                .map_err(|e| crate::error::port_error("GetTopicRule", e))?;
            Ok::<_, PortError>(got.rule().map(|rule| rule_of(name, rule)))
        }
    });
    // A few at a time: hundreds of rules one by one would outlast drctl's patience.
    let rules: Vec<Option<TopicRule>> = futures_util::stream::iter(read)
        .buffered(RULES_READ_AT_ONCE)
        .try_collect()
        .await?;
    Ok(rules.into_iter().flatten().collect())
}

/// A region's topic rule destinations for HTTP actions, as (confirmation URL, status).
async fn http_destinations(iot: &aws_sdk_iot::Client) -> Result<Vec<(String, String)>, PortError> {
    let listed = iot
        .list_topic_rule_destinations()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| crate::error::port_error("ListTopicRuleDestinations", e))?;
    Ok(listed
        .iter()
        .filter_map(|d| {
            let url = d.http_url_summary()?.confirmation_url()?;
            Some((url.to_owned(), d.status()?.as_str().to_owned()))
        })
        .collect())
}

/// The SDK's rule in the domain's words.
fn rule_of(name: &str, rule: &aws_sdk_iot::types::TopicRule) -> TopicRule {
    TopicRule {
        name: name.to_owned(),
        sql: rule.sql().unwrap_or_default().to_owned(),
        sql_version: rule
            .aws_iot_sql_version()
            .unwrap_or(DEFAULT_SQL_VERSION)
            .to_owned(),
        disabled: rule.rule_disabled().unwrap_or(false),
        actions: rule.actions().iter().map(action_of).collect(),
        error_action: rule.error_action().map(action_of),
    }
}

fn action_of(action: &Action) -> RuleAction {
    let with = |kind: ActionKind, target: &str, role: Option<&str>| RuleAction {
        kind,
        target: target.to_owned(),
        role_arn: role.filter(|r| !r.is_empty()).map(str::to_owned),
    };
    if let Some(a) = action.sqs() {
        with(ActionKind::Sqs, a.queue_url(), Some(a.role_arn()))
    } else if let Some(a) = action.sns() {
        with(ActionKind::Sns, a.target_arn(), Some(a.role_arn()))
    } else if let Some(a) = action.lambda() {
        with(ActionKind::Lambda, a.function_arn(), None)
    } else if let Some(a) = action.kinesis() {
        with(ActionKind::Kinesis, a.stream_name(), Some(a.role_arn()))
    } else if let Some(a) = action.dynamo_db() {
        with(ActionKind::DynamoDb, a.table_name(), Some(a.role_arn()))
    } else if let Some(a) = action.dynamo_dbv2() {
        let table = a.put_item().map(|p| p.table_name()).unwrap_or_default();
        with(ActionKind::DynamoDbV2, table, Some(a.role_arn()))
    } else if let Some(a) = action.republish() {
        with(ActionKind::Republish, a.topic(), Some(a.role_arn()))
    } else if let Some(a) = action.http() {
        // The destination is confirmed for the confirmation URL (the URL when none).
        with(
            ActionKind::Http,
            a.confirmation_url().unwrap_or(a.url()),
            None,
        )
    } else {
        with(ActionKind::Other(other_kind(action)), "", None)
    }
}

/// The API name of an action this check compares by kind only.
fn other_kind(action: &Action) -> &'static str {
    [
        (action.s3().is_some(), "s3"),
        (action.firehose().is_some(), "firehose"),
        (action.cloudwatch_metric().is_some(), "cloudwatchMetric"),
        (action.cloudwatch_alarm().is_some(), "cloudwatchAlarm"),
        (action.cloudwatch_logs().is_some(), "cloudwatchLogs"),
        (action.elasticsearch().is_some(), "elasticsearch"),
        (action.open_search().is_some(), "openSearch"),
        (action.salesforce().is_some(), "salesforce"),
        (action.iot_analytics().is_some(), "iotAnalytics"),
        (action.iot_events().is_some(), "iotEvents"),
        (action.iot_site_wise().is_some(), "iotSiteWise"),
        (action.step_functions().is_some(), "stepFunctions"),
        (action.timestream().is_some(), "timestream"),
        (action.kafka().is_some(), "kafka"),
        (action.location().is_some(), "location"),
        (action.influx_db().is_some(), "influxDb"),
    ]
    .into_iter()
    .find_map(|(is, name)| is.then_some(name))
    .unwrap_or("unknown")
}

/// Whether one thing a rule needs exists in DR.
enum Lookup {
    Present,
    Absent,
    /// It exists, but cannot serve: why.
    Wrong(String),
    /// Reading it failed (refused by IAM, or no answer).
    Unreadable(PortError),
    /// Readiness does not read this kind (yet): why.
    NotVerified(&'static str),
}

impl Lookup {
    /// A look-up's answer: `missing` error codes mean absent.
    fn of<T, E, R>(
        operation: &str,
        result: Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>,
        missing: &[&str],
    ) -> Lookup
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
        R: std::fmt::Debug + crate::error::HttpStatus,
    {
        match result {
            Ok(_) => Lookup::Present,
            Err(e) if crate::error::code(&e).is_some_and(|c| missing.contains(&c)) => {
                Lookup::Absent
            }
            Err(e) => Lookup::Unreadable(crate::error::port_error(operation, e)),
        }
    }
}

async fn present_in_dr(session: &AwsSession, topology: &Topology, need: &Dependency) -> Lookup {
    match need {
        Dependency::Queue { owner, name } => {
            let mut call = session.sqs(Side::Dr).get_queue_url().queue_name(name);
            // Another account's queue is asked of its owner; DR's own by name.
            if let Some(owner) = owner
                .as_ref()
                .filter(|o| **o != topology.dr.account_id.as_str())
            {
                call = call.queue_owner_aws_account_id(owner);
            }
            Lookup::of(
                "GetQueueUrl",
                call.send().await,
                &[
                    "AWS.SimpleQueueService.NonExistentQueue",
                    "QueueDoesNotExist",
                ],
            )
        }
        Dependency::Topic(arn) => Lookup::of(
            "GetTopicAttributes",
            session
                .sns(Side::Dr)
                .get_topic_attributes()
                .topic_arn(arn)
                .send()
                .await,
            &["NotFound"],
        ),
        Dependency::Table(name) => Lookup::of(
            "DescribeTable",
            session
                .dynamodb(Side::Dr)
                .describe_table()
                .table_name(name)
                .send()
                .await,
            &["ResourceNotFoundException"],
        ),
        Dependency::Role(arn) => {
            // A role's name is the ARN's last path segment.
            let name = arn.rsplit('/').next().unwrap_or_default();
            let got = session
                .iam(Side::Dr)
                .get_role()
                .role_name(name)
                .send()
                .await;
            let trust = got
                .as_ref()
                .ok()
                .and_then(|r| r.role())
                .and_then(|r| r.assume_role_policy_document())
                .map(str::to_owned);
            match Lookup::of("GetRole", got, &["NoSuchEntity"]) {
                Lookup::Present => {
                    let account = topology.dr.account_id.as_str();
                    if trust.is_some_and(|t| trusts_iot(&t, account)) {
                        Lookup::Present
                    } else {
                        Lookup::Wrong(format!(
                            "its trust policy does not let {IOT_PRINCIPAL} of account {account} assume it"
                        ))
                    }
                }
                other => other,
            }
        }
        Dependency::Stream(_) => Lookup::NotVerified("Kinesis streams are not read"),
        Dependency::Function(_) => {
            Lookup::NotVerified("the function and its resource policy admitting IoT are not read")
        }
        // Listed once for all HTTP actions (see `topic_rules`).
        Dependency::HttpDestination(_) => Lookup::NotVerified("destinations were not listed"),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_iot::types::{
        DynamoDBv2Action, FirehoseAction, HttpAction, PutItemInput, SqsAction, TopicRule as SdkRule,
    };

    use super::*;

    #[tokio::test]
    async fn destinations_are_read_on_every_page_with_their_confirmation_url_and_status() {
        use aws_sdk_iot::operation::list_topic_rule_destinations::ListTopicRuleDestinationsOutput;
        use aws_sdk_iot::types::{
            HttpUrlDestinationSummary, TopicRuleDestinationStatus, TopicRuleDestinationSummary,
        };
        use aws_smithy_mocks::mock;

        let summary = |url: &str, status| {
            TopicRuleDestinationSummary::builder()
                .http_url_summary(
                    HttpUrlDestinationSummary::builder()
                        .confirmation_url(url)
                        .build(),
                )
                .status(status)
                .build()
        };
        // Given two pages
        let first = mock!(aws_sdk_iot::Client::list_topic_rule_destinations)
            .match_requests(|r| r.next_token().is_none())
            .then_output(move || {
                ListTopicRuleDestinationsOutput::builder()
                    .destination_summaries(summary(
                        "https://a.example.com/",
                        TopicRuleDestinationStatus::Enabled,
                    ))
                    .next_token("2")
                    .build()
            });
        let second = mock!(aws_sdk_iot::Client::list_topic_rule_destinations)
            .match_requests(|r| r.next_token() == Some("2"))
            .then_output(move || {
                ListTopicRuleDestinationsOutput::builder()
                    .destination_summaries(summary(
                        "https://b.example.com/",
                        TopicRuleDestinationStatus::InProgress,
                    ))
                    .build()
            });
        let client = crate::testing::iot(&[&first, &second]);
        // When they are listed, then both pages are read
        let found = http_destinations(&client).await.unwrap();
        assert_eq!(
            found,
            vec![
                ("https://a.example.com/".to_owned(), "ENABLED".to_owned()),
                (
                    "https://b.example.com/".to_owned(),
                    "IN_PROGRESS".to_owned()
                ),
            ]
        );
        // And an HTTP action confirmed for the second cannot deliver yet
        let pairs = found.iter().map(|(u, s)| (u.as_str(), s.as_str()));
        assert!(http_destination("https://b.example.com/", pairs)
            .unwrap_err()
            .contains("IN_PROGRESS"));
    }

    #[test]
    fn an_sdk_rule_reads_as_the_domains_with_each_actions_target_and_role() {
        // Given a rule as GetTopicRule returns it, with no SQL version and no state
        let rule = SdkRule::builder()
            .sql("SELECT * FROM 'wearables/+/alerts'")
            .actions(
                Action::builder()
                    .sqs(
                        SqsAction::builder()
                            .queue_url("https://sqs.us-west-2.amazonaws.com/222222222222/q")
                            .role_arn("arn:aws:iam::222222222222:role/r")
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .actions(
                Action::builder()
                    .dynamo_dbv2(
                        DynamoDBv2Action::builder()
                            .role_arn("arn:aws:iam::222222222222:role/r")
                            .put_item(
                                PutItemInput::builder()
                                    .table_name("alerts")
                                    .build()
                                    .unwrap(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .actions(
                Action::builder()
                    .http(
                        HttpAction::builder()
                            .url("https://alerts.example.com/in/123")
                            .confirmation_url("https://alerts.example.com/")
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .error_action(
                Action::builder()
                    .firehose(
                        FirehoseAction::builder()
                            .role_arn("arn:aws:iam::222222222222:role/r")
                            .delivery_stream_name("errors")
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .build();
        // When it is read
        let read = rule_of("alerts_to_queue", &rule);
        // Then AWS's defaults fill what it leaves out, and each action keeps what it names
        assert_eq!(read.sql_version, DEFAULT_SQL_VERSION);
        assert!(!read.disabled);
        let actions: Vec<(ActionKind, &str, Option<&str>)> = read
            .actions
            .iter()
            .map(|a| (a.kind, a.target.as_str(), a.role_arn.as_deref()))
            .collect();
        assert_eq!(
            actions,
            vec![
                (
                    ActionKind::Sqs,
                    "https://sqs.us-west-2.amazonaws.com/222222222222/q",
                    Some("arn:aws:iam::222222222222:role/r")
                ),
                (
                    ActionKind::DynamoDbV2,
                    "alerts",
                    Some("arn:aws:iam::222222222222:role/r")
                ),
                // The destination is confirmed for the confirmation URL.
                (ActionKind::Http, "https://alerts.example.com/", None),
            ]
        );
        let error = read.error_action.unwrap();
        assert_eq!(error.kind, ActionKind::Other("firehose"));
        assert!(error.target.is_empty(), "compared by kind only");
    }
}
