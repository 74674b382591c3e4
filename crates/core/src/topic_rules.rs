//! The application's IoT topic rules as DR must hold them: the path a patient's alert
//! takes once wearables publish in DR.
//!
//! Topic rules are regional: a rule primary has and DR lacks drops every message it would
//! have routed, and a rule whose queue, topic or role is missing in DR fires its error
//! action, if any. This module compares the two sides' rules after mapping primary's
//! ARNs to DR's account and region, and names what each rule needs to exist in DR. It
//! reads nothing: `dr-aws` lists and describes the rules, and looks the targets up.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::replication::ArnRewrite;

/// The prefix of the lifecycle events' topics (connected, disconnected: "wearable offline").
pub const PRESENCE_TOPICS: &str = "$aws/events/presence/";

/// What an action does, by the name the IoT API gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActionKind {
    /// Send to an SQS queue.
    Sqs,
    /// Publish to an SNS topic.
    Sns,
    /// Invoke a Lambda function.
    Lambda,
    /// Put a record into a Kinesis data stream.
    Kinesis,
    /// Write to a DynamoDB table (one column per key).
    DynamoDb,
    /// Write a whole item to a DynamoDB table.
    DynamoDbV2,
    /// Publish again to an MQTT topic.
    Republish,
    /// POST to an HTTPS endpoint (through a confirmed topic rule destination).
    Http,
    /// Any other action (Firehose, S3, CloudWatch, Step Functions…), by its API name:
    /// compared by kind only.
    Other(&'static str),
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActionKind::Sqs => "sqs",
            ActionKind::Sns => "sns",
            ActionKind::Lambda => "lambda",
            ActionKind::Kinesis => "kinesis",
            ActionKind::DynamoDb => "dynamoDB",
            ActionKind::DynamoDbV2 => "dynamoDBv2",
            ActionKind::Republish => "republish",
            ActionKind::Http => "http",
            ActionKind::Other(name) => name,
        })
    }
}

/// One action of a rule (or its error action).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleAction {
    /// What it does.
    pub kind: ActionKind,
    /// Where it delivers, as the rule names it: an ARN (SNS, Lambda), a queue URL (SQS), a
    /// table or stream name (DynamoDB, Kinesis: in the rule's own account and region), an
    /// MQTT topic (republish), a URL (HTTP). Empty for kinds compared by kind only.
    pub target: String,
    /// The role IoT assumes to perform it, when the action takes one.
    pub role_arn: Option<String>,
}

impl RuleAction {
    /// The action as DR's rule must hold it: ARNs and queue URLs of primary's account and
    /// region mapped to DR's; names, topics and URLs unchanged.
    pub fn in_dr(&self, rewrite: &ArnRewrite) -> RuleAction {
        let target = match self.kind {
            ActionKind::Sqs => rewrite_queue_url(&self.target, rewrite),
            ActionKind::Sns | ActionKind::Lambda => rewrite.rewrite_arn(&self.target),
            _ => self.target.clone(),
        };
        RuleAction {
            kind: self.kind,
            target,
            role_arn: self.role_arn.as_deref().map(|r| rewrite.rewrite_arn(r)),
        }
    }

    /// What the action delivers to, as two rules are compared: a queue by its owner and
    /// name (the same queue has several URL forms), anything else by its text.
    fn target_key(&self) -> String {
        match self.kind {
            ActionKind::Sqs => {
                let (owner, name) = queue_of(&self.target);
                format!("{}/{name}", owner.unwrap_or("?"))
            }
            _ => self.target.clone(),
        }
    }

    fn describe(&self) -> String {
        if self.target.is_empty() {
            self.kind.to_string()
        } else {
            format!("{} {}", self.kind, self.target)
        }
    }
}

/// A topic rule, reduced to what decides where its messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRule {
    /// Its name (the same on both sides: Basic Ingest publishes to `$aws/rules/<name>/…`).
    pub name: String,
    /// `SELECT … FROM '<filter>' WHERE …`.
    pub sql: String,
    /// `awsIotSqlVersion` (the SQL dialect; AWS's default is `2015-10-08`).
    pub sql_version: String,
    /// `ruleDisabled`.
    pub disabled: bool,
    /// Its actions, in the rule's order.
    pub actions: Vec<RuleAction>,
    /// Where IoT reports an action that failed.
    pub error_action: Option<RuleAction>,
}

impl TopicRule {
    /// The rule as DR must hold it: every action's target and role mapped to DR.
    pub fn in_dr(&self, rewrite: &ArnRewrite) -> TopicRule {
        TopicRule {
            actions: self.actions.iter().map(|a| a.in_dr(rewrite)).collect(),
            error_action: self.error_action.as_ref().map(|a| a.in_dr(rewrite)),
            ..self.clone()
        }
    }

    /// Whether the rule selects lifecycle events (`$aws/events/presence/…`).
    pub fn on_presence_events(&self) -> bool {
        self.sql.contains(PRESENCE_TOPICS)
    }

    /// Whether every action invokes `function_arn` (any version or alias of it): the
    /// control plane's own capture rules, which primary holds and DR does not by design.
    pub fn only_invokes(&self, function_arn: &str) -> bool {
        !self.actions.is_empty()
            && self.actions.iter().all(|a| {
                a.kind == ActionKind::Lambda
                    && (a.target == function_arn
                        || a.target
                            .strip_prefix(function_arn)
                            .is_some_and(|rest| rest.starts_with(':')))
            })
    }

    /// What must exist in this rule's account and region for it to deliver: each action's
    /// target and role (the error action's too).
    pub fn dependencies(&self) -> BTreeSet<Dependency> {
        let mut needs = BTreeSet::new();
        for action in self.actions.iter().chain(&self.error_action) {
            if let Some(role) = action.role_arn.as_ref().filter(|r| !r.is_empty()) {
                needs.insert(Dependency::Role(role.clone()));
            }
            let target = action.target.clone();
            needs.insert(match action.kind {
                ActionKind::Sqs => {
                    let (owner, name) = queue_of(&action.target);
                    Dependency::Queue {
                        owner: owner.map(str::to_owned),
                        name: name.to_owned(),
                    }
                }
                ActionKind::Sns => Dependency::Topic(target),
                ActionKind::Lambda => Dependency::Function(target),
                ActionKind::Kinesis => Dependency::Stream(target),
                ActionKind::DynamoDb | ActionKind::DynamoDbV2 => Dependency::Table(target),
                ActionKind::Http => Dependency::HttpDestination(target),
                ActionKind::Republish | ActionKind::Other(_) => continue,
            });
        }
        needs
    }
}

/// Something a rule needs in its account and region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dependency {
    /// An IAM role IoT assumes (by ARN).
    Role(String),
    /// An SQS queue, by owner (when its URL names one) and name.
    Queue {
        /// The owning account, from the URL's path.
        owner: Option<String>,
        /// The queue's name.
        name: String,
    },
    /// An SNS topic (by ARN).
    Topic(String),
    /// A DynamoDB table (by name).
    Table(String),
    /// A Kinesis data stream (by name).
    Stream(String),
    /// A Lambda function (by ARN), whose resource policy must admit `iot.amazonaws.com`.
    Function(String),
    /// A confirmed topic rule destination for this URL.
    HttpDestination(String),
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dependency::Role(arn) => write!(f, "role {arn}"),
            Dependency::Queue { owner, name } => match owner {
                Some(owner) => write!(f, "queue {name} (account {owner})"),
                None => write!(f, "queue {name}"),
            },
            Dependency::Topic(arn) => write!(f, "topic {arn}"),
            Dependency::Table(name) => write!(f, "table {name}"),
            Dependency::Stream(name) => write!(f, "stream {name}"),
            Dependency::Function(arn) => write!(f, "function {arn}"),
            Dependency::HttpDestination(url) => write!(f, "HTTP destination for {url}"),
        }
    }
}

/// Whether an HTTP action confirmed for `confirmation_url` can deliver, given a region's
/// topic rule destinations as (confirmation URL, status): one for that URL must be
/// `ENABLED` (confirmed, and not disabled since). `Err` says what is wrong.
pub fn http_destination<'a>(
    confirmation_url: &str,
    destinations: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), String> {
    let statuses: Vec<&str> = destinations
        .into_iter()
        .filter(|(url, _)| url.trim_end_matches('/') == confirmation_url.trim_end_matches('/'))
        .map(|(_, status)| status)
        .collect();
    if statuses.contains(&"ENABLED") {
        Ok(())
    } else if statuses.is_empty() {
        Err("no topic rule destination: create one and confirm it in DR".to_owned())
    } else {
        Err(format!(
            "its destination is {} (it must be confirmed and ENABLED)",
            statuses.join(", ")
        ))
    }
}

/// IoT's service principal, which a rule action's role must trust.
pub const IOT_PRINCIPAL: &str = "iot.amazonaws.com";

/// Whether a role's trust policy lets IoT rules of `account` assume it: a statement that
/// allows `sts:AssumeRole` to [`IOT_PRINCIPAL`] and, when it pins `aws:SourceAccount`
/// (the confused-deputy guard), pins `account`. `trust_policy` is JSON, or JSON
/// URL-encoded as IAM's GetRole returns it. Other conditions are not evaluated.
pub fn trusts_iot(trust_policy: &str, account: &str) -> bool {
    trusts_service(trust_policy, IOT_PRINCIPAL, account)
}

/// Whether a role's trust policy lets `service` (a service principal) of `account` assume
/// it: a statement allowing `sts:AssumeRole` to the principal and, when it pins
/// `aws:SourceAccount`, pinning `account`. JSON, or URL-encoded JSON as GetRole returns it.
pub fn trusts_service(trust_policy: &str, service: &str, account: &str) -> bool {
    let text = if trust_policy.trim_start().starts_with('{') {
        trust_policy.to_owned()
    } else {
        percent_decode(trust_policy)
    };
    let Ok(policy) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    let list = |v: &serde_json::Value| -> Vec<String> {
        match v {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    let statements = match &policy["Statement"] {
        serde_json::Value::Array(items) => items.clone(),
        one @ serde_json::Value::Object(_) => vec![one.clone()],
        _ => Vec::new(),
    };
    statements.iter().any(|s| {
        let allows = s["Effect"] == "Allow"
            && list(&s["Action"])
                .iter()
                .any(|a| matches!(a.as_str(), "sts:AssumeRole" | "sts:*" | "*"));
        let to_iot = list(&s["Principal"]["Service"])
            .iter()
            .any(|p| p == service);
        let source_accounts: Vec<String> = s["Condition"]
            .as_object()
            .into_iter()
            .flat_map(|operators| operators.values())
            .flat_map(|keys| list(&keys["aws:SourceAccount"]))
            .collect();
        allows
            && to_iot
            && (source_accounts.is_empty() || source_accounts.iter().any(|a| a == account))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The owning account (from the path, when it names one) and name of a queue URL
/// (`https://sqs.<region>.amazonaws.com/<account>/<name>`).
pub fn queue_of(url: &str) -> (Option<&str>, &str) {
    let mut parts = url.trim_end_matches('/').rsplit('/');
    let name = parts.next().unwrap_or_default();
    let owner = parts
        .next()
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()));
    (owner, name)
}

/// A queue URL of the rewrite's source account and region, as DR's: the account in the
/// path and the region in the host (`sqs.<region>.…`) mapped; anything else unchanged.
pub fn rewrite_queue_url(url: &str, rewrite: &ArnRewrite) -> String {
    let (from_account, from_region) = rewrite.source();
    let (to_account, to_region) = rewrite.target();
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let mut parts: Vec<String> = rest.split('/').map(str::to_owned).collect();
    if let Some(host) = parts.first_mut() {
        *host = host
            .split('.')
            .map(|label| {
                if label == from_region.as_str() {
                    to_region.as_str()
                } else {
                    label
                }
            })
            .collect::<Vec<_>>()
            .join(".");
    }
    if let Some(account) = parts.get_mut(1) {
        if account == from_account.as_str() {
            *account = to_account.to_string();
        }
    }
    format!("{scheme}://{}", parts.join("/"))
}

/// How DR's rule differs from what primary's needs of it (`expected`, already mapped to
/// DR), one phrase each; empty when DR's would route as primary's does.
pub fn differences(expected: &TopicRule, found: &TopicRule) -> Vec<String> {
    let mut differ = Vec::new();
    if expected.sql.trim() != found.sql.trim() {
        differ.push(format!(
            "SQL is {:?} in DR, {:?} in primary",
            found.sql, expected.sql
        ));
    }
    if expected.sql_version != found.sql_version {
        differ.push(format!(
            "SQL version {} in DR, {} in primary",
            found.sql_version, expected.sql_version
        ));
    }
    if expected.disabled != found.disabled {
        let state = |disabled: bool| if disabled { "disabled" } else { "enabled" };
        differ.push(format!(
            "{} in DR, {} in primary",
            state(found.disabled),
            state(expected.disabled)
        ));
    }
    let kinds = |rule: &TopicRule| {
        let mut kinds: Vec<ActionKind> = rule.actions.iter().map(|a| a.kind).collect();
        kinds.sort();
        kinds
    };
    let (want, have) = (kinds(expected), kinds(found));
    if want != have {
        let list = |k: &[ActionKind]| {
            k.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        differ.push(format!(
            "actions [{}] in DR, [{}] in primary",
            list(&have),
            list(&want)
        ));
    } else {
        // Same kinds: each of primary's actions must have its twin in DR (order is not
        // significant: IoT runs a rule's actions in parallel).
        let mut unmatched: Vec<&RuleAction> = found.actions.iter().collect();
        for action in &expected.actions {
            match unmatched.iter().position(|a| same_action(action, a)) {
                Some(i) => {
                    unmatched.swap_remove(i);
                }
                None => differ.push(format!(
                    "no {} action with DR's target and role{}",
                    action.kind,
                    wanted(action)
                )),
            }
        }
    }
    match (&expected.error_action, &found.error_action) {
        (None, None) => {}
        (Some(e), None) => differ.push(format!(
            "no error action in DR (primary's: {})",
            e.describe()
        )),
        (None, Some(f)) => differ.push(format!(
            "an error action in DR ({}) primary has not",
            f.describe()
        )),
        (Some(e), Some(f)) if e.kind != f.kind => differ.push(format!(
            "error action {} in DR, {} in primary",
            f.kind, e.kind
        )),
        (Some(e), Some(f)) => {
            if !same_action(e, f) {
                differ.push(format!(
                    "error action {} with another target or role{}",
                    e.kind,
                    wanted(e)
                ));
            }
        }
    }
    differ
}

fn same_action(a: &RuleAction, b: &RuleAction) -> bool {
    a.kind == b.kind && a.target_key() == b.target_key() && a.role_arn == b.role_arn
}

fn wanted(action: &RuleAction) -> String {
    let mut parts = Vec::new();
    if !action.target.is_empty() {
        parts.push(format!("target {}", action.target));
    }
    if let Some(role) = &action.role_arn {
        parts.push(format!("role {role}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" (wanted {})", parts.join(", "))
    }
}

/// Primary's rules against DR's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleComparison {
    /// Primary's rules DR lacks, by name.
    pub missing: Vec<String>,
    /// Rules in both that route differently: the rule's name and each difference.
    pub differ: Vec<(String, Vec<String>)>,
    /// Rules only DR has (reported, never a failure: DR may route more than primary).
    pub only_in_dr: Vec<String>,
}

impl RuleComparison {
    /// Compare `primary`'s rules with `dr`'s, primary's mapped to DR by `rewrite`.
    pub fn of(primary: &[TopicRule], dr: &[TopicRule], rewrite: &ArnRewrite) -> Self {
        let in_dr: BTreeMap<&str, &TopicRule> = dr.iter().map(|r| (r.name.as_str(), r)).collect();
        let in_primary: BTreeSet<&str> = primary.iter().map(|r| r.name.as_str()).collect();
        let mut comparison = RuleComparison::default();
        for rule in primary {
            match in_dr.get(rule.name.as_str()) {
                None => comparison.missing.push(rule.name.clone()),
                Some(found) => {
                    let differ = differences(&rule.in_dr(rewrite), found);
                    if !differ.is_empty() {
                        comparison.differ.push((rule.name.clone(), differ));
                    }
                }
            }
        }
        comparison.only_in_dr = in_dr
            .keys()
            .filter(|name| !in_primary.contains(*name))
            .map(|name| (*name).to_owned())
            .collect();
        comparison.missing.sort();
        comparison.differ.sort();
        comparison
    }

    /// Whether DR routes every message primary's rules do.
    pub fn equal(&self) -> bool {
        self.missing.is_empty() && self.differ.is_empty()
    }
}

#[cfg(test)]
mod tests;
