//! IAM policy documents and their evaluation, as AWS documents it ("Policy evaluation
//! logic"): an explicit Deny in any applicable statement wins; otherwise some Allow must
//! match the action, the resource and every condition; otherwise the request is denied
//! implicitly. Actions match case-insensitively, resources case-sensitively, both with the
//! `*` and `?` wildcards.
//!
//! Conditions: the string, ARN, Bool, Numeric and Null operators, the `IfExists` suffix and
//! the `ForAnyValue:` / `ForAllValues:` set qualifiers. A condition on a key the request does
//! not carry is false (true for `IfExists`, `ForAllValues:` and `Null: true`), exactly as in
//! AWS — except the keys in [`UNEVALUATED_KEYS`], whose values the sandbox cannot know (the
//! tags of a snapshot, say): those conditions are taken to hold and the evaluation says so.
//!
//! Long because of its unit tests (the evaluator itself is ~490 lines): one evaluation
//! order, read top to bottom as AWS's page describes it.

use std::collections::BTreeMap;

use serde_json::Value;

/// Condition keys the sandbox does not know the values of; a condition on one of them is
/// taken to hold (kinder than AWS; listed in the README).
pub const UNEVALUATED_KEYS: &[&str] = &[
    "aws:ResourceTag/",
    "rds:snapshot-tag/",
    "rds:cluster-snapshot-tag/",
    "rds:db-tag/",
    "rds:cluster-tag/",
    "kms:ResourceAliases",
];

/// A parsed policy document (identity policy or trust policy).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyDocument {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq)]
struct Statement {
    sid: Option<String>,
    allow: bool,
    actions: Matcher,
    resources: Option<Matcher>,
    principals: Option<Principals>,
    conditions: Vec<Condition>,
}

/// `Action` or `NotAction` (likewise `Resource` / `NotResource`).
#[derive(Debug, Clone, PartialEq)]
struct Matcher {
    negated: bool,
    patterns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct Principals {
    negated: bool,
    any: bool,
    aws: Vec<String>,
    services: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    operator: String,
    set: SetQualifier,
    if_exists: bool,
    key: String,
    values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    Single,
    AnyValue,
    AllValues,
}

/// What a request asks: one action on some resources, with the condition keys it carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// `service:Action`, e.g. `iot:DescribeCertificate`.
    pub action: String,
    /// Every resource the action is authorized on; each must be allowed.
    pub resources: Vec<String>,
    /// Condition keys and their values (multi-valued keys have several).
    pub keys: BTreeMap<String, Vec<String>>,
}

/// How a request fares against a set of policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Some statement allows it (on every resource), none denies it.
    Allowed {
        /// Conditions on keys the sandbox cannot evaluate that were taken to hold.
        assumed: Vec<String>,
    },
    /// A Deny statement matched.
    ExplicitDeny {
        /// Its Sid, if it has one.
        sid: Option<String>,
        /// The resource it denied.
        resource: String,
    },
    /// No statement allows it on this resource.
    ImplicitDeny {
        /// The first resource no statement allows.
        resource: String,
    },
}

impl PolicyDocument {
    /// Parse a policy document as IAM writes it (`Statement` an object or an array; each
    /// field a string or an array of strings).
    pub fn parse(document: &Value) -> Result<Self, String> {
        let statements = match document.get("Statement") {
            Some(Value::Array(items)) => items.iter().map(Statement::parse).collect(),
            Some(item @ Value::Object(_)) => Statement::parse(item).map(|s| vec![s]),
            _ => Err("a policy document needs a Statement".to_owned()),
        }?;
        Ok(Self { statements })
    }

    /// The number of statements.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }
}

/// Evaluate identity policies for `request`.
pub fn evaluate(policies: &[&PolicyDocument], request: &Request) -> Verdict {
    let mut assumed = Vec::new();
    let resources: Vec<&str> = if request.resources.is_empty() {
        vec!["*"]
    } else {
        request.resources.iter().map(String::as_str).collect()
    };
    for resource in resources {
        let mut allowed = false;
        for statement in policies.iter().flat_map(|p| &p.statements) {
            if !statement.actions.matches(&request.action, false) {
                continue;
            }
            if !statement
                .resources
                .as_ref()
                .is_some_and(|r| r.matches(resource, true))
            {
                continue;
            }
            let mut notes = Vec::new();
            if !statement
                .conditions
                .iter()
                .all(|c| c.holds(&request.keys, &mut notes))
            {
                continue;
            }
            if statement.allow {
                allowed = true;
                assumed.extend(notes);
            } else {
                return Verdict::ExplicitDeny {
                    sid: statement.sid.clone(),
                    resource: resource.to_owned(),
                };
            }
        }
        if !allowed {
            return Verdict::ImplicitDeny {
                resource: resource.to_owned(),
            };
        }
    }
    assumed.sort();
    assumed.dedup();
    Verdict::Allowed { assumed }
}

/// Who a trust policy lets assume its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The statement names the caller's own ARN: no identity policy is needed in the same
    /// account.
    ByArn,
    /// The statement names the caller's account (`:root` or the bare id): the caller's
    /// identity policy must allow the call too.
    ByAccount,
    /// No statement allows the caller.
    Refused,
}

/// Evaluate a role's trust policy for `caller` (an IAM role ARN) calling `action`.
pub fn trusts(
    trust: &PolicyDocument,
    caller: &str,
    action: &str,
    keys: &BTreeMap<String, Vec<String>>,
) -> Trust {
    let caller_account = caller.split(':').nth(4).unwrap_or_default();
    let mut result = Trust::Refused;
    for statement in &trust.statements {
        if !statement.actions.matches(action, false) {
            continue;
        }
        let Some(principals) = &statement.principals else {
            continue;
        };
        let by_arn = principals.any || principals.aws.iter().any(|p| wildcard(p, caller, true));
        let by_account = principals
            .aws
            .iter()
            .any(|p| p == caller_account || *p == format!("arn:aws:iam::{caller_account}:root"));
        let named = if principals.negated {
            !(by_arn || by_account)
        } else {
            by_arn || by_account
        };
        if !named {
            continue;
        }
        let mut notes = Vec::new();
        if !statement
            .conditions
            .iter()
            .all(|c| c.holds(keys, &mut notes))
        {
            continue;
        }
        if !statement.allow {
            return Trust::Refused;
        }
        if by_arn && !principals.negated {
            result = Trust::ByArn;
        } else if result == Trust::Refused {
            result = Trust::ByAccount;
        }
    }
    result
}

impl Statement {
    fn parse(value: &Value) -> Result<Self, String> {
        let effect = value.get("Effect").and_then(Value::as_str);
        let allow = match effect {
            Some("Allow") => true,
            Some("Deny") => false,
            other => return Err(format!("Effect must be Allow or Deny, not {other:?}")),
        };
        let matcher = |positive: &str, negative: &str| -> Result<Option<Matcher>, String> {
            match (value.get(positive), value.get(negative)) {
                (Some(v), None) => Ok(Some(Matcher {
                    negated: false,
                    patterns: strings(v)?,
                })),
                (None, Some(v)) => Ok(Some(Matcher {
                    negated: true,
                    patterns: strings(v)?,
                })),
                (None, None) => Ok(None),
                (Some(_), Some(_)) => Err(format!("both {positive} and {negative}")),
            }
        };
        let actions = matcher("Action", "NotAction")?
            .ok_or_else(|| "a statement needs an Action".to_owned())?;
        let resources = matcher("Resource", "NotResource")?;
        let principals = match (value.get("Principal"), value.get("NotPrincipal")) {
            (Some(p), None) => Some(Principals::parse(p, false)?),
            (None, Some(p)) => Some(Principals::parse(p, true)?),
            _ => None,
        };
        let mut conditions = Vec::new();
        if let Some(block) = value.get("Condition") {
            let block = block
                .as_object()
                .ok_or_else(|| "Condition must be an object".to_owned())?;
            for (operator, keys) in block {
                let keys = keys
                    .as_object()
                    .ok_or_else(|| format!("Condition {operator} must be an object"))?;
                for (key, values) in keys {
                    conditions.push(Condition::parse(operator, key, values)?);
                }
            }
        }
        Ok(Self {
            sid: value.get("Sid").and_then(Value::as_str).map(str::to_owned),
            allow,
            actions,
            resources,
            principals,
            conditions,
        })
    }
}

impl Principals {
    fn parse(value: &Value, negated: bool) -> Result<Self, String> {
        if value == "*" {
            return Ok(Self {
                negated,
                any: true,
                aws: Vec::new(),
                services: Vec::new(),
            });
        }
        let object = value
            .as_object()
            .ok_or_else(|| "Principal must be \"*\" or an object".to_owned())?;
        let field = |name: &str| object.get(name).map(strings).transpose();
        let aws = field("AWS")?.unwrap_or_default();
        Ok(Self {
            negated,
            any: aws.iter().any(|p| p == "*"),
            aws,
            services: field("Service")?.unwrap_or_default(),
        })
    }
}

impl Matcher {
    fn matches(&self, candidate: &str, case_sensitive: bool) -> bool {
        let any = self
            .patterns
            .iter()
            .any(|p| wildcard(p, candidate, case_sensitive));
        any != self.negated
    }
}

impl Condition {
    fn parse(operator: &str, key: &str, values: &Value) -> Result<Self, String> {
        let (set, rest) = if let Some(rest) = operator.strip_prefix("ForAnyValue:") {
            (SetQualifier::AnyValue, rest)
        } else if let Some(rest) = operator.strip_prefix("ForAllValues:") {
            (SetQualifier::AllValues, rest)
        } else {
            (SetQualifier::Single, operator)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        const KNOWN: &[&str] = &[
            "StringEquals",
            "StringNotEquals",
            "StringEqualsIgnoreCase",
            "StringNotEqualsIgnoreCase",
            "StringLike",
            "StringNotLike",
            "ArnEquals",
            "ArnLike",
            "ArnNotEquals",
            "ArnNotLike",
            "Bool",
            "NumericEquals",
            "NumericNotEquals",
            "NumericLessThan",
            "NumericLessThanEquals",
            "NumericGreaterThan",
            "NumericGreaterThanEquals",
            "Null",
        ];
        if !KNOWN.contains(&base) {
            return Err(format!(
                "condition operator {operator} is not one the sandbox knows"
            ));
        }
        let values = match values {
            Value::Bool(b) => vec![b.to_string()],
            Value::Number(n) => vec![n.to_string()],
            other => strings(other)?,
        };
        Ok(Self {
            operator: base.to_owned(),
            set,
            if_exists,
            key: key.to_owned(),
            values,
        })
    }

    fn holds(&self, keys: &BTreeMap<String, Vec<String>>, notes: &mut Vec<String>) -> bool {
        if UNEVALUATED_KEYS.iter().any(|k| self.key.starts_with(k)) {
            notes.push(format!(
                "{} {} (not evaluated by the sandbox)",
                self.operator, self.key
            ));
            return true;
        }
        let present = keys
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&self.key))
            .map(|(_, v)| v.as_slice())
            .filter(|v| !v.is_empty());
        if self.operator == "Null" {
            let wants_absent = self.values.iter().any(|v| v == "true");
            return present.is_none() == wants_absent;
        }
        let Some(actual) = present else {
            return self.if_exists || self.set == SetQualifier::AllValues;
        };
        let negated = self.operator.contains("Not");
        let one = |value: &str| self.compare(value);
        match self.set {
            SetQualifier::AnyValue => actual.iter().any(|v| one(v)),
            SetQualifier::AllValues => actual.iter().all(|v| one(v)),
            // A single-valued operator on several values: any must match, or for a negated
            // operator none may fail to.
            SetQualifier::Single if negated => actual.iter().all(|v| one(v)),
            SetQualifier::Single => actual.iter().any(|v| one(v)),
        }
    }

    /// Whether `actual` satisfies the operator against the condition's values.
    fn compare(&self, actual: &str) -> bool {
        let any = |f: &dyn Fn(&str) -> bool| self.values.iter().any(|v| f(v));
        match self.operator.as_str() {
            "StringEquals" => any(&|v| v == actual),
            "StringNotEquals" => !any(&|v| v == actual),
            "StringEqualsIgnoreCase" => any(&|v| v.eq_ignore_ascii_case(actual)),
            "StringNotEqualsIgnoreCase" => !any(&|v| v.eq_ignore_ascii_case(actual)),
            "StringLike" | "ArnEquals" | "ArnLike" => any(&|v| wildcard(v, actual, true)),
            "StringNotLike" | "ArnNotEquals" | "ArnNotLike" => !any(&|v| wildcard(v, actual, true)),
            "Bool" => any(&|v| v.eq_ignore_ascii_case(actual)),
            numeric => {
                let Ok(actual) = actual.parse::<f64>() else {
                    return false;
                };
                any(&|v| {
                    v.parse::<f64>().is_ok_and(|v| match numeric {
                        "NumericEquals" => actual == v,
                        "NumericNotEquals" => actual != v,
                        "NumericLessThan" => actual < v,
                        "NumericLessThanEquals" => actual <= v,
                        "NumericGreaterThan" => actual > v,
                        _ => actual >= v,
                    })
                })
            }
        }
    }
}

fn strings(value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("expected a string, got {v}"))
            })
            .collect(),
        other => Err(format!(
            "expected a string or an array of strings, got {other}"
        )),
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` any one.
pub fn wildcard(pattern: &str, candidate: &str, case_sensitive: bool) -> bool {
    let fold = |s: &str| -> Vec<char> {
        if case_sensitive {
            s.chars().collect()
        } else {
            s.to_ascii_lowercase().chars().collect()
        }
    };
    let (p, c) = (fold(pattern), fold(candidate));
    // Iterative glob match with backtracking to the last star.
    let (mut pi, mut ci) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ci < c.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == c[ci]) {
            pi += 1;
            ci += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ci));
            pi += 1;
        } else if let Some((sp, sc)) = star {
            pi = sp + 1;
            ci = sc + 1;
            star = Some((sp, sc + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&ch| ch == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(value: Value) -> PolicyDocument {
        PolicyDocument::parse(&value).unwrap()
    }

    fn request(action: &str, resource: &str) -> Request {
        Request {
            action: action.to_owned(),
            resources: vec![resource.to_owned()],
            keys: BTreeMap::new(),
        }
    }

    #[test]
    fn wildcards_match_as_iam_matches_them() {
        assert!(wildcard(
            "arn:aws:iot:us-west-2:2:cert/*",
            "arn:aws:iot:us-west-2:2:cert/ab",
            true
        ));
        assert!(!wildcard(
            "arn:aws:iot:us-west-2:2:cert/*",
            "arn:aws:iot:us-east-1:2:cert/ab",
            true
        ));
        assert!(wildcard("iot:Describe*", "iot:describecertificate", false));
        assert!(wildcard("a?c", "abc", true) && !wildcard("a?c", "ac", true));
        assert!(wildcard("*", "*", true) && !wildcard("arn:*", "*", true));
        assert!(wildcard("*a*b", "xxaxxb", true) && !wildcard("*a*b", "xxbxxa", true));
    }

    #[test]
    fn an_allow_must_match_action_and_resource_and_a_deny_wins() {
        let policy = doc(json!({"Statement": [
            {"Effect": "Allow", "Action": ["iot:DescribeCertificate"], "Resource": "arn:aws:iot:us-west-2:222222222222:cert/*"},
            {"Sid": "NoDeletes", "Effect": "Deny", "Action": "iot:Delete*", "Resource": "*"}
        ]}));
        let ok = request(
            "iot:DescribeCertificate",
            "arn:aws:iot:us-west-2:222222222222:cert/abc",
        );
        assert_eq!(
            evaluate(&[&policy], &ok),
            Verdict::Allowed { assumed: vec![] }
        );
        // The same action in primary's region: not allowed.
        let wrong_region = request(
            "iot:DescribeCertificate",
            "arn:aws:iot:us-east-1:222222222222:cert/abc",
        );
        assert!(matches!(
            evaluate(&[&policy], &wrong_region),
            Verdict::ImplicitDeny { .. }
        ));
        // An action without a resource type needs "*".
        let list = request("iot:ListCertificates", "*");
        assert!(matches!(
            evaluate(&[&policy], &list),
            Verdict::ImplicitDeny { .. }
        ));
        let delete = request(
            "iot:DeleteCertificate",
            "arn:aws:iot:us-west-2:222222222222:cert/abc",
        );
        assert!(matches!(
            evaluate(&[&policy], &delete),
            Verdict::ExplicitDeny { sid: Some(ref s), .. } if s == "NoDeletes"
        ));
    }

    #[test]
    fn every_resource_of_a_request_must_be_allowed() {
        let policy = doc(
            json!({"Statement": {"Effect": "Allow", "Action": "rds:RestoreDBInstanceFromDBSnapshot",
            "Resource": ["arn:aws:rds:us-west-2:2:db:fleetdb", "arn:aws:rds:us-west-2:2:snapshot:*"]}}),
        );
        let mut both = request(
            "rds:RestoreDBInstanceFromDBSnapshot",
            "arn:aws:rds:us-west-2:2:db:fleetdb",
        );
        both.resources
            .push("arn:aws:rds:us-west-2:2:snapshot:s1".to_owned());
        assert!(matches!(
            evaluate(&[&policy], &both),
            Verdict::Allowed { .. }
        ));
        both.resources
            .push("arn:aws:rds:us-west-2:2:subgrp:default".to_owned());
        assert_eq!(
            evaluate(&[&policy], &both),
            Verdict::ImplicitDeny {
                resource: "arn:aws:rds:us-west-2:2:subgrp:default".to_owned()
            }
        );
    }

    #[test]
    fn conditions_follow_aws_semantics_for_absent_and_multi_valued_keys() {
        let policy = doc(json!({"Statement": [
            {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
             "Condition": {"StringEquals": {"cloudwatch:namespace": "IotDr"}}},
            {"Effect": "Allow", "Action": "route53:ChangeResourceRecordSets", "Resource": "*",
             "Condition": {"ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsNormalizedRecordNames": ["iot.example.com"]}}},
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
             "Condition": {"StringEquals": {"kms:ViaService": "sns.us-west-2.amazonaws.com"}}}
        ]}));
        let mut put = request("cloudwatch:PutMetricData", "*");
        put.keys
            .insert("cloudwatch:namespace".into(), vec!["IotDr".into()]);
        assert!(matches!(
            evaluate(&[&policy], &put),
            Verdict::Allowed { .. }
        ));
        put.keys
            .insert("cloudwatch:namespace".into(), vec!["Other".into()]);
        assert!(matches!(
            evaluate(&[&policy], &put),
            Verdict::ImplicitDeny { .. }
        ));

        let mut change = request("route53:ChangeResourceRecordSets", "*");
        change.keys.insert(
            "route53:ChangeResourceRecordSetsNormalizedRecordNames".into(),
            vec!["iot.example.com".into(), "other.example.com".into()],
        );
        assert!(matches!(
            evaluate(&[&policy], &change),
            Verdict::ImplicitDeny { .. }
        ));
        change.keys.insert(
            "route53:ChangeResourceRecordSetsNormalizedRecordNames".into(),
            vec!["iot.example.com".into()],
        );
        assert!(matches!(
            evaluate(&[&policy], &change),
            Verdict::Allowed { .. }
        ));

        // A direct call carries no kms:ViaService: the SNS-only grant does not apply.
        let decrypt = request("kms:Decrypt", "*");
        assert!(matches!(
            evaluate(&[&policy], &decrypt),
            Verdict::ImplicitDeny { .. }
        ));
    }

    #[test]
    fn tag_conditions_are_taken_to_hold_and_reported() {
        let policy = doc(
            json!({"Statement": {"Effect": "Allow", "Action": "rds:DeleteDBSnapshot", "Resource": "*",
            "Condition": {"StringEquals": {"rds:snapshot-tag/dr:managed": "true"}}}}),
        );
        match evaluate(
            &[&policy],
            &request("rds:DeleteDBSnapshot", "arn:aws:rds:us-west-2:2:snapshot:s"),
        ) {
            Verdict::Allowed { assumed } => {
                assert!(assumed[0].contains("not evaluated"), "{assumed:?}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn trust_by_arn_by_account_and_by_condition() {
        let trust = doc(json!({"Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "arn:aws:iam::111111111111:role/capture-exec"}},
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
             "Condition": {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::222222222222:role/replicator-exec"}}}
        ]}));
        let keys =
            |arn: &str| BTreeMap::from([("aws:PrincipalArn".to_owned(), vec![arn.to_owned()])]);
        let capture = "arn:aws:iam::111111111111:role/capture-exec";
        assert_eq!(
            trusts(&trust, capture, "sts:AssumeRole", &keys(capture)),
            Trust::ByArn
        );
        let replicator = "arn:aws:iam::222222222222:role/replicator-exec";
        assert_eq!(
            trusts(&trust, replicator, "sts:AssumeRole", &keys(replicator)),
            Trust::ByAccount
        );
        let other = "arn:aws:iam::222222222222:role/someone-else";
        assert_eq!(
            trusts(&trust, other, "sts:AssumeRole", &keys(other)),
            Trust::Refused
        );
    }
}
