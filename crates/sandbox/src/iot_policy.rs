//! AWS IoT Core's authorization of an MQTT CONNECT, as the endpoint stand-in plays it.
//!
//! What AWS documents and this follows: a connection is allowed when some policy in effect
//! allows `iot:Connect` on `arn:aws:iot:<region>:<account>:client/<clientId>` and none
//! denies it (an explicit Deny wins). The policies in effect are the certificate's own and,
//! when the connection has a thing, the policies of that thing's groups and of their parent
//! groups. The connection's thing is the one attached to the certificate exclusively
//! (EXCLUSIVE_THING), whatever the client id; otherwise the attached thing whose name is the
//! MQTT client id (thing policy variables need the client id to match the thing name under
//! a non-exclusive association; that group policies follow the same rule is inferred).
//! `${iot:ClientId}`,
//! `${iot:CertificateId}` and `${iot:Connection.Thing.ThingName}` are substituted; a
//! variable that does not resolve leaves its statement unmatched. Of conditions only
//! `Bool: iot:Connection.Thing.IsAttached` is understood; a statement with any other
//! condition is not applied (an Allow then allows nothing, as a stricter stand-in should).

use serde_json::Value;

/// What AWS IoT knows about a connecting device when it authorizes its CONNECT.
#[derive(Debug, Clone)]
pub struct Connection<'a> {
    /// `arn:aws:iot:<region>:<account>` of the endpoint's account.
    pub arn_prefix: &'a str,
    /// The MQTT client id from CONNECT.
    pub client_id: &'a str,
    /// The certificate's id.
    pub certificate_id: &'a str,
    /// The connection's thing, if any: the one attached exclusively, or else the attached
    /// thing whose name is the client id.
    pub thing_name: Option<&'a str>,
}

/// Whether the policy documents allow this connection.
pub fn allows_connect(documents: &[String], connection: &Connection<'_>) -> bool {
    let resource = format!("{}:client/{}", connection.arn_prefix, connection.client_id);
    let mut allowed = false;
    for document in documents {
        let Ok(policy) = serde_json::from_str::<Value>(document) else {
            continue;
        };
        for statement in as_list(policy.get("Statement")) {
            match applies(statement, "iot:Connect", &resource, connection) {
                Some(Effect::Deny) => return false,
                Some(Effect::Allow) => allowed = true,
                None => {}
            }
        }
    }
    allowed
}

enum Effect {
    Allow,
    Deny,
}

fn applies(
    statement: &Value,
    action: &str,
    resource: &str,
    connection: &Connection<'_>,
) -> Option<Effect> {
    let effect = match statement.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return None,
    };
    if !conditions_hold(statement.get("Condition"), connection) {
        return None;
    }
    let action = action.to_ascii_lowercase();
    let acts = as_list(statement.get("Action"))
        .filter_map(Value::as_str)
        .any(|pattern| glob(&pattern.to_ascii_lowercase(), &action));
    let on = as_list(statement.get("Resource"))
        .filter_map(Value::as_str)
        .filter_map(|pattern| substitute(pattern, connection))
        .any(|pattern| glob(&pattern, resource));
    (acts && on).then_some(effect)
}

fn conditions_hold(conditions: Option<&Value>, connection: &Connection<'_>) -> bool {
    let Some(conditions) = conditions else {
        return true;
    };
    let Some(conditions) = conditions.as_object() else {
        return false;
    };
    conditions.iter().all(|(operator, tests)| {
        operator == "Bool"
            && tests.as_object().is_some_and(|tests| {
                tests.iter().all(|(key, wanted)| {
                    key == "iot:Connection.Thing.IsAttached"
                        && as_list(Some(wanted)).any(|w| {
                            w.as_str()
                                .or(w.as_bool().map(|b| if b { "true" } else { "false" }))
                                == Some(if connection.thing_name.is_some() {
                                    "true"
                                } else {
                                    "false"
                                })
                        })
                })
            })
    })
}

/// The pattern with its policy variables resolved, or `None` when one cannot be.
fn substitute(pattern: &str, connection: &Connection<'_>) -> Option<String> {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}')? + start;
        let value = match &rest[start + 2..end] {
            "iot:ClientId" => connection.client_id,
            "iot:CertificateId" => connection.certificate_id,
            "iot:Connection.Thing.ThingName" => connection.thing_name?,
            _ => return None,
        };
        out.push_str(value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

fn as_list(value: Option<&Value>) -> Box<dyn Iterator<Item = &Value> + '_> {
    match value {
        Some(Value::Array(items)) => Box::new(items.iter()),
        Some(other) => Box::new(std::iter::once(other)),
        None => Box::new(std::iter::empty()),
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` any one.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "arn:aws:iot:us-west-2:222222222222";

    fn connection<'a>(client_id: &'a str, thing: Option<&'a str>) -> Connection<'a> {
        Connection {
            arn_prefix: PREFIX,
            client_id,
            certificate_id: "abc",
            thing_name: thing,
        }
    }

    fn policy(effect: &str, resource: &str) -> String {
        serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": effect, "Action": ["iot:Connect"], "Resource": resource}
        ]})
        .to_string()
    }

    #[test]
    fn the_thing_name_variable_resolves_only_for_an_attached_thing_named_like_the_client() {
        let doc = vec![policy(
            "Allow",
            &format!("{PREFIX}:client/${{iot:Connection.Thing.ThingName}}"),
        )];
        assert!(allows_connect(&doc, &connection("w-1", Some("w-1"))));
        assert!(!allows_connect(&doc, &connection("w-1", None)));
    }

    #[test]
    fn a_deny_wins_and_nothing_allows_by_default() {
        let allow = policy("Allow", &format!("{PREFIX}:client/*"));
        let deny = policy("Deny", &format!("{PREFIX}:client/w-?"));
        assert!(allows_connect(
            std::slice::from_ref(&allow),
            &connection("w-1", None)
        ));
        assert!(!allows_connect(
            &[allow.clone(), deny],
            &connection("w-1", None)
        ));
        assert!(!allows_connect(&[], &connection("w-1", None)));
        // Another account's ARN (a policy not rewritten for DR) allows nothing here.
        let primary = policy("Allow", "arn:aws:iot:us-east-1:111111111111:client/*");
        assert!(!allows_connect(&[primary], &connection("w-1", None)));
    }

    #[test]
    fn only_the_is_attached_condition_is_understood() {
        let attached = serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "iot:*",
            "Resource": "*", "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}}]})
        .to_string();
        assert!(allows_connect(
            std::slice::from_ref(&attached),
            &connection("w-1", Some("w-1"))
        ));
        assert!(!allows_connect(&[attached], &connection("w-1", None)));
        let other = serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "*",
            "Resource": "*", "Condition": {"StringEquals": {"aws:SourceIp": "10.0.0.1"}}}]})
        .to_string();
        assert!(!allows_connect(&[other], &connection("w-1", Some("w-1"))));
    }

    #[test]
    fn globs_match_as_iam_does() {
        assert!(glob("a*c", "abbbc") && glob("a?c", "abc") && glob("*", ""));
        assert!(!glob("a?c", "ac") && !glob("a*d", "abc"));
    }
}
