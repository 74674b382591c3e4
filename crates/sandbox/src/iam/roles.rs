//! Worlds of roles, the principals of the ambient keys, and assumed-role sessions.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::policy::{evaluate, trusts, PolicyDocument, Trust, Verdict};
use super::request::{authorization, passed_role};
use crate::aws_request::ApiRequest;

/// One role as the CDK app creates it (`infra/bin/sandbox-iam.ts` writes these).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleExport {
    /// `arn:aws:iam::<account>:role/<path/>name`.
    pub arn: String,
    /// `execution` (a Lambda's), `side` (what a function assumes), `operator`
    /// (`dr-control-plane`), or `sandbox` (a principal the sandbox adds, such as the
    /// operators' own).
    pub kind: String,
    /// The function it belongs to, for `execution` and `side` roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// The trust policy.
    pub trust: serde_json::Value,
    /// Every identity policy attached (inline and managed).
    pub policies: Vec<serde_json::Value>,
}

/// Every role of one topology's deployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorldExport {
    /// The roles.
    pub roles: Vec<RoleExport>,
    /// Who plays the operator (`-c operatorPrincipal`): a role among `roles`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_principal: Option<String>,
}

#[derive(Debug)]
struct Role {
    arn: String,
    trust: PolicyDocument,
    policies: Vec<PolicyDocument>,
}

#[derive(Debug, Default)]
struct World {
    roles: HashMap<String, Role>,
    execution_roles: HashMap<String, String>,
    operator: Option<String>,
}

/// Who a key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Identity {
    /// Not evaluated: provisioning and the harness.
    Admin,
    /// A role of a world, through a session named `session`.
    Role {
        world: String,
        arn: String,
        session: String,
    },
}

/// What to do with a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IamDecision {
    /// Forward it. For an AssumeRole, remember the session its answer creates.
    Allow {
        /// Set for AssumeRole: the world, role and session name the answer's key belongs to.
        session: Option<(Option<String>, String, String)>,
    },
    /// Refuse it with AWS's AccessDenied.
    Deny {
        /// AWS's message.
        message: String,
    },
    /// The key is unknown: refuse as AWS refuses a bad key.
    UnknownKey {
        /// Why.
        message: String,
    },
}

/// The sandbox's IAM: registered worlds and known sessions.
#[derive(Debug, Default)]
pub struct Iam {
    worlds: HashMap<String, World>,
    /// Each world as it was registered, to tell a repeated registration from a change.
    exports: HashMap<String, WorldExport>,
    sessions: HashMap<String, Identity>,
    denials: Vec<String>,
}

/// At most this many denials are kept for [`Iam::denials`].
const DENIALS_KEPT: usize = 1_000;

/// What registering a world did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// A world of that name did not exist.
    New,
    /// It existed with the same roles and policies: nothing changed.
    Unchanged,
    /// It existed and was replaced (the CDK app's roles changed).
    Replaced,
}

impl Registration {
    /// Its name on the control API.
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::New => "created",
            Registration::Unchanged => "unchanged",
            Registration::Replaced => "updated",
        }
    }
}

impl Iam {
    /// Register (or replace) a world: how many roles it has, and what changed.
    pub fn register(
        &mut self,
        name: &str,
        export: &WorldExport,
    ) -> Result<(usize, Registration), String> {
        let mut world = World {
            operator: export.operator_principal.clone(),
            ..World::default()
        };
        for role in &export.roles {
            let parse = |v: &serde_json::Value| {
                PolicyDocument::parse(v).map_err(|e| format!("role {}: {e}", role.arn))
            };
            let policies = role
                .policies
                .iter()
                .map(parse)
                .collect::<Result<Vec<_>, _>>()?;
            if role.kind == "execution" {
                if let Some(function) = &role.function {
                    world
                        .execution_roles
                        .insert(function.clone(), role.arn.clone());
                }
            }
            world.roles.insert(
                role.arn.clone(),
                Role {
                    arn: role.arn.clone(),
                    trust: parse(&role.trust)?,
                    policies,
                },
            );
        }
        if let Some(operator) = &world.operator {
            if !world.roles.contains_key(operator) {
                return Err(format!(
                    "the operator principal {operator} is not among the roles"
                ));
            }
        }
        let count = world.roles.len();
        let registration = match self.exports.insert(name.to_owned(), export.clone()) {
            None => Registration::New,
            Some(before) if before == *export => Registration::Unchanged,
            Some(_) => Registration::Replaced,
        };
        self.worlds.insert(name.to_owned(), world);
        Ok((count, registration))
    }

    /// The last denials, oldest first (for tests and `drctl-sandbox iam`).
    pub fn denials(&self) -> &[String] {
        &self.denials
    }

    /// Decide on `call`.
    pub fn decide(&mut self, call: &ApiRequest) -> IamDecision {
        // Unsigned calls (moto's own API) and calls AWS authorizes without IAM.
        if call.access_key.is_empty()
            || (call.service == "sts" && call.operation == "GetCallerIdentity")
        {
            return IamDecision::Allow { session: None };
        }
        let identity = match self.identity(&call.access_key) {
            Ok(identity) => identity,
            Err(message) => return IamDecision::UnknownKey { message },
        };
        let Identity::Role {
            world,
            arn,
            session,
        } = identity
        else {
            // The administrator: whatever it assumes stays the administrator.
            let session = (call.service == "sts" && call.operation == "AssumeRole").then(|| {
                (
                    None,
                    call.param("RoleArn").unwrap_or_default().to_owned(),
                    String::new(),
                )
            });
            return IamDecision::Allow { session };
        };
        let decision = self.authorize(&world, &arn, &session, call);
        if let IamDecision::Deny { message } = &decision {
            if self.denials.len() == DENIALS_KEPT {
                self.denials.remove(0);
            }
            self.denials.push(message.clone());
        }
        decision
    }

    /// Remember that `access_key` belongs to a session of `role` (or the administrator's).
    pub fn remember_session(
        &mut self,
        access_key: &str,
        world: Option<String>,
        role: String,
        session: String,
    ) {
        let identity = match world {
            Some(world) => Identity::Role {
                world,
                arn: role,
                session,
            },
            None => Identity::Admin,
        };
        self.sessions.insert(access_key.to_owned(), identity);
    }

    fn identity(&self, key: &str) -> Result<Identity, String> {
        if let Some(identity) = self.sessions.get(key) {
            return Ok(identity.clone());
        }
        let mut parts = key.splitn(3, ':');
        let (Some("sandbox"), Some(world_name), Some(principal)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "the security token included in the request is invalid (sandbox: {key:?} is neither a \
                 sandbox key nor a session this sandbox issued)"
            ));
        };
        if principal == "admin" {
            return Ok(Identity::Admin);
        }
        let world = self.worlds.get(world_name).ok_or_else(|| {
            format!("the security token included in the request is invalid (sandbox: world {world_name:?} is not registered; provision it first)")
        })?;
        let arn = if principal == "operator" {
            world.operator.clone()
        } else {
            principal
                .strip_prefix("function:")
                .and_then(|f| world.execution_roles.get(f).cloned())
        }
        .ok_or_else(|| {
            format!("the security token included in the request is invalid (sandbox: world {world_name:?} has no principal {principal:?})")
        })?;
        let session = principal
            .strip_prefix("function:")
            .map_or_else(|| "operator".to_owned(), |f| format!("iot-dr-{f}"));
        Ok(Identity::Role {
            world: world_name.to_owned(),
            arn,
            session,
        })
    }

    fn authorize(
        &self,
        world_name: &str,
        arn: &str,
        session: &str,
        call: &ApiRequest,
    ) -> IamDecision {
        let Some(world) = self.worlds.get(world_name) else {
            return IamDecision::UnknownKey {
                message: format!("sandbox: world {world_name:?} is no longer registered"),
            };
        };
        let Some(role) = world.roles.get(arn) else {
            return IamDecision::UnknownKey {
                message: format!("sandbox: role {arn} is not in world {world_name:?}"),
            };
        };
        let account = arn.split(':').nth(4).unwrap_or_default();
        let role_name = arn.rsplit('/').next().unwrap_or_default();
        let caller = format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session}");
        let request = match authorization(call, account, &role.arn) {
            Ok(request) => request,
            Err(why) => {
                return IamDecision::Deny {
                    message: format!(
                        "User: {caller} is not authorized to perform: {}:{} ({why})",
                        super::request::iam_prefix(&call.service),
                        call.operation
                    ),
                }
            }
        };
        let policies: Vec<&PolicyDocument> = role.policies.iter().collect();
        let identity = evaluate(&policies, &request);
        if call.service == "sts" && call.operation == "AssumeRole" {
            let target_arn = request.resources[0].clone();
            let refused = || {
                IamDecision::Deny {
                message: format!("User: {caller} is not authorized to perform: sts:AssumeRole on resource: {target_arn}"),
            }
            };
            let Some(target) = world.roles.get(&target_arn) else {
                return refused();
            };
            let trust = trusts(&target.trust, &role.arn, "sts:AssumeRole", &request.keys);
            let target_account = target_arn.split(':').nth(4).unwrap_or_default();
            let identity_allows = matches!(identity, Verdict::Allowed { .. });
            let allowed = match trust {
                Trust::Refused => false,
                Trust::ByArn if target_account == account => {
                    !matches!(identity, Verdict::ExplicitDeny { .. })
                }
                Trust::ByArn | Trust::ByAccount => identity_allows,
            };
            if !allowed {
                return refused();
            }
            let session_name = call.param("RoleSessionName").unwrap_or_default().to_owned();
            return IamDecision::Allow {
                session: Some((Some(world_name.to_owned()), target_arn, session_name)),
            };
        }
        if matches!(identity, Verdict::Allowed { .. }) {
            if let Some(pass) = passed_role(call, &request) {
                if !matches!(evaluate(&policies, &pass), Verdict::Allowed { .. }) {
                    return IamDecision::Deny {
                        message: format!(
                            "User: {caller} is not authorized to perform: iam:PassRole on resource: {} (passed to {} by {})",
                            pass.resources[0],
                            pass.keys["iam:PassedToService"][0],
                            request.action
                        ),
                    };
                }
            }
        }
        match identity {
            Verdict::Allowed { .. } => IamDecision::Allow { session: None },
            Verdict::ImplicitDeny { resource } => IamDecision::Deny {
                message: format!(
                    "User: {caller} is not authorized to perform: {} on resource: {resource} because no identity-based policy allows the {} action",
                    request.action, request.action
                ),
            },
            Verdict::ExplicitDeny { resource, .. } => IamDecision::Deny {
                message: format!(
                    "User: {caller} is not authorized to perform: {} on resource: {resource} with an explicit deny in an identity-based policy",
                    request.action
                ),
            },
        }
    }
}

/// The access key in an AssumeRole answer (Query protocol XML).
pub fn issued_access_key(answer: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(answer).ok()?;
    let start = text.find("<AccessKeyId>")? + "<AccessKeyId>".len();
    let end = text[start..].find("</AccessKeyId>")? + start;
    Some(text[start..end].trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn export() -> WorldExport {
        WorldExport {
            roles: vec![
                RoleExport {
                    arn: "arn:aws:iam::222222222222:role/iot-dr-cert-replicator-exec".into(),
                    kind: "execution".into(),
                    function: Some("cert-replicator".into()),
                    trust: json!({"Statement": {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}}),
                    policies: vec![
                        json!({"Statement": {"Effect": "Allow", "Action": "sts:AssumeRole",
                        "Resource": "arn:aws:iam::222222222222:role/iot-dr-cert-replicator-dr"}}),
                    ],
                },
                RoleExport {
                    arn: "arn:aws:iam::222222222222:role/iot-dr-cert-replicator-dr".into(),
                    kind: "side".into(),
                    function: Some("cert-replicator".into()),
                    trust: json!({"Statement": {"Effect": "Allow", "Action": "sts:AssumeRole",
                        "Principal": {"AWS": "arn:aws:iam::222222222222:role/iot-dr-cert-replicator-exec"}}}),
                    policies: vec![
                        json!({"Statement": {"Effect": "Allow", "Action": "dynamodb:GetItem",
                        "Resource": "arn:aws:dynamodb:us-west-2:222222222222:table/ledger"}}),
                    ],
                },
            ],
            operator_principal: None,
        }
    }

    fn call(key: &str, service: &str, target: Option<&str>, body: &str) -> ApiRequest {
        let auth =
            format!("AWS4-HMAC-SHA256 Credential={key}/20261203/us-west-2/{service}/aws4_request");
        let mut builder = hyper::Request::builder()
            .method("POST")
            .uri("/")
            .header("authorization", auth);
        builder = match target {
            Some(t) => builder.header("x-amz-target", t),
            None => builder.header("content-type", "application/x-www-form-urlencoded"),
        };
        let (parts, ()) = builder.body(()).unwrap().into_parts();
        ApiRequest::classify(&parts, body.as_bytes())
    }

    #[test]
    fn a_function_assumes_its_role_and_is_held_to_its_policy() {
        let mut iam = Iam::default();
        iam.register("w", &export()).unwrap();
        let exec_key = "sandbox:w:function:cert-replicator";
        let assume = call(exec_key, "sts", None, "Action=AssumeRole&RoleArn=arn:aws:iam::222222222222:role/iot-dr-cert-replicator-dr&RoleSessionName=cert-replicator-dr");
        let IamDecision::Allow {
            session: Some((world, role, name)),
        } = iam.decide(&assume)
        else {
            panic!("AssumeRole refused");
        };
        iam.remember_session("ASIA1", world, role, name);

        let get = call(
            "ASIA1",
            "dynamodb",
            Some("DynamoDB_20120810.GetItem"),
            r#"{"TableName":"ledger"}"#,
        );
        assert_eq!(iam.decide(&get), IamDecision::Allow { session: None });
        let put = call(
            "ASIA1",
            "dynamodb",
            Some("DynamoDB_20120810.PutItem"),
            r#"{"TableName":"ledger"}"#,
        );
        let IamDecision::Deny { message } = iam.decide(&put) else {
            panic!("PutItem allowed")
        };
        assert!(message.contains("assumed-role/iot-dr-cert-replicator-dr/cert-replicator-dr is not authorized to perform: dynamodb:PutItem"), "{message}");
        assert_eq!(iam.denials().len(), 1);

        // Another role than its own: refused by its policy and by the target's trust.
        let other = call(exec_key, "sts", None, "Action=AssumeRole&RoleArn=arn:aws:iam::222222222222:role/dr-control-plane&RoleSessionName=x");
        assert!(matches!(iam.decide(&other), IamDecision::Deny { .. }));
        let stranger = call(
            "AKIAUNKNOWN",
            "dynamodb",
            Some("DynamoDB_20120810.GetItem"),
            r#"{"TableName":"ledger"}"#,
        );
        assert!(matches!(
            iam.decide(&stranger),
            IamDecision::UnknownKey { .. }
        ));
        let admin = call(
            "sandbox:w:admin",
            "dynamodb",
            Some("DynamoDB_20120810.PutItem"),
            r#"{"TableName":"ledger"}"#,
        );
        assert_eq!(iam.decide(&admin), IamDecision::Allow { session: None });
    }

    #[test]
    fn a_call_that_passes_a_role_needs_iam_pass_role_towards_the_service_that_assumes_it() {
        let mut world = export();
        world.roles[1].policies = vec![json!({"Statement": [
            {"Effect": "Allow", "Action": ["iot:CreateRoleAlias", "iot:CreateProvisioningTemplate"], "Resource": "*"},
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::222222222222:role/*",
             "Condition": {"StringEquals": {"iam:PassedToService": "credentials.iot.amazonaws.com"}}}]})];
        let mut iam = Iam::default();
        iam.register("w", &world).unwrap();
        let assume = call("sandbox:w:function:cert-replicator", "sts", None, "Action=AssumeRole&RoleArn=arn:aws:iam::222222222222:role/iot-dr-cert-replicator-dr&RoleSessionName=r");
        let IamDecision::Allow {
            session: Some((world, role, name)),
        } = iam.decide(&assume)
        else {
            panic!("AssumeRole refused");
        };
        iam.remember_session("ASIA2", world, role, name);
        let rest = |path: &str, body: serde_json::Value| {
            let (parts, ()) = hyper::Request::builder()
                .method("POST")
                .uri(path)
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=ASIA2/20261203/us-west-2/iot/aws4_request",
                )
                .header("content-type", "application/json")
                .body(())
                .unwrap()
                .into_parts();
            ApiRequest::classify(&parts, body.to_string().as_bytes())
        };
        let role = "arn:aws:iam::222222222222:role/uploads";
        let alias = rest("/role-aliases/uploads", json!({"roleArn": role}));
        assert_eq!(iam.decide(&alias), IamDecision::Allow { session: None });
        let template = rest(
            "/provisioning-templates",
            json!({"templateName": "enrol", "provisioningRoleArn": role, "templateBody": "{}"}),
        );
        let IamDecision::Deny { message } = iam.decide(&template) else {
            panic!("a role passed to IoT itself under a grant for the credentials provider");
        };
        assert!(
            message.contains("iam:PassRole on resource: arn:aws:iam::222222222222:role/uploads (passed to iot.amazonaws.com"),
            "{message}"
        );
    }

    #[test]
    fn the_issued_key_is_read_from_the_answer() {
        let answer = b"<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAXYZ</AccessKeyId></Credentials></AssumeRoleResult></AssumeRoleResponse>";
        assert_eq!(issued_access_key(answer).as_deref(), Some("ASIAXYZ"));
    }
}
