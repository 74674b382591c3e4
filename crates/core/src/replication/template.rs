//! Fleet-provisioning templates: what a new device enrols with (`RegisterThing` over MQTT,
//! or just-in-time provisioning when its CA registers it). If DR lacks them, no new device
//! can enrol during an outage, whatever else replicated.
//!
//! A template names primary's resources three ways, each mapped to DR's: the provisioning
//! role IoT assumes (same role name, DR's account), the pre-provisioning hook Lambda (same
//! function name, DR's account and region) and, inside the body, the ARNs of the policies
//! it creates (`AWS::IoT::Policy` documents are JSON strings in a JSON body). Policies the
//! body attaches *by name* travel with the template, created in DR when missing, exactly
//! as a certificate message carries its policies.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{PolicyName, TemplateName};
use crate::replication::records::PolicyRecord;
use crate::replication::ArnRewrite;

/// AWS's limit on a template body (CreateProvisioningTemplate's `templateBody`).
pub const MAX_TEMPLATE_BODY_CHARS: usize = 10_240;

/// AWS's limit on a template's description.
pub const MAX_TEMPLATE_DESCRIPTION_CHARS: usize = 500;

/// The only pre-provisioning hook payload version AWS defines.
pub const HOOK_PAYLOAD_VERSION: &str = "2020-04-01";

/// A provisioning template as primary has it: its default version's body and settings.
/// Version ids are not carried: DR numbers its own versions, and only the default one is
/// ever used to provision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningTemplateRecord {
    /// Its name (devices publish to `$aws/provisioning-templates/<name>/provision`).
    pub template_name: TemplateName,
    /// Its description, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The default version's body: a JSON object of `Parameters` and `Resources`.
    pub template_body: String,
    /// Whether devices may provision with it.
    pub enabled: bool,
    /// The role IoT assumes to create the body's resources.
    pub provisioning_role_arn: String,
    /// The Lambda that vets a device before it is provisioned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_provisioning_hook: Option<ProvisioningHook>,
    /// Fleet provisioning or just-in-time provisioning (fixed when it is created).
    pub template_type: TemplateType,
    /// The policies the body attaches by name, with their default documents (ARNs not yet
    /// rewritten); empty when read from a registry.
    #[serde(default)]
    pub policies: Vec<PolicyRecord>,
}

/// A pre-provisioning hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningHook {
    /// The payload version ([`HOOK_PAYLOAD_VERSION`]).
    pub payload_version: String,
    /// The Lambda function's ARN.
    pub target_arn: String,
}

/// What a template provisions for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TemplateType {
    /// Fleet provisioning by claim or by trusted user (`RegisterThing`).
    #[serde(rename = "FLEET_PROVISIONING")]
    FleetProvisioning,
    /// Just-in-time provisioning, named by a CA's registration config.
    #[serde(rename = "JITP")]
    Jitp,
}

impl TemplateType {
    /// The name AWS's API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateType::FleetProvisioning => "FLEET_PROVISIONING",
            TemplateType::Jitp => "JITP",
        }
    }
}

impl ProvisioningTemplateRecord {
    /// The policies the body attaches by a literal name (`AWS::IoT::Policy` resources with
    /// `PolicyName` and no document). A name given by `Ref` is a device's parameter: there
    /// is nothing to carry for it.
    pub fn named_policies(&self) -> Vec<PolicyName> {
        let Ok(body) = serde_json::from_str::<Value>(&self.template_body) else {
            return Vec::new();
        };
        let mut names: Vec<PolicyName> = resources(&body)
            .filter(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::IoT::Policy"))
            .filter_map(|r| r.get("Properties"))
            .filter(|p| p.get("PolicyDocument").is_none())
            .filter_map(|p| p.get("PolicyName")?.as_str()?.parse().ok())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The template as DR must hold it: every ARN of primary's account and region (the
    /// role, the hook, those in the body and in the policies' documents) mapped to DR's.
    pub fn in_dr(&self, rewrite: &ArnRewrite) -> Result<Self, String> {
        let policies = self
            .policies
            .iter()
            .map(|p| {
                Ok(PolicyRecord {
                    policy_name: p.policy_name.clone(),
                    document: rewrite.rewrite_document(&p.document)?,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            template_body: rewrite_body(&self.template_body, rewrite)
                .map_err(|e| format!("provisioning template {}: {e}", self.template_name))?,
            provisioning_role_arn: rewrite.rewrite_arn(&self.provisioning_role_arn),
            pre_provisioning_hook: self.pre_provisioning_hook.as_ref().map(|hook| {
                ProvisioningHook {
                    payload_version: hook.payload_version.clone(),
                    target_arn: rewrite.rewrite_arn(&hook.target_arn),
                }
            }),
            // AWS stores a cleared description as "", and reads it back as such.
            description: self.description.clone().filter(|d| !d.is_empty()),
            policies,
            ..self.clone()
        })
    }

    /// Whether the body still names `rewrite`'s source account in its region, as a
    /// fragment the rewrite cannot see as an ARN (one an `Fn::Join` assembles): such a
    /// template provisions devices with primary's resources, wherever it runs.
    pub fn names_the_source(&self, rewrite: &ArnRewrite) -> bool {
        let (account, region) = rewrite.source();
        self.template_body.contains(&format!("{region}:{account}:"))
    }

    /// The template as a registry stores it: without the policies a message carries.
    pub fn with_no_policies(&self) -> Self {
        Self {
            policies: Vec::new(),
            ..self.clone()
        }
    }

    /// Whether `other` provisions exactly as this does: the same settings and the same
    /// body. Carried policies are not compared.
    pub fn provisions_as(&self, other: &Self) -> bool {
        self.template_name == other.template_name
            && self.template_type == other.template_type
            && self.same_settings(other)
            && self.same_body(other)
    }

    /// Whether the bodies are the same JSON (whitespace and key order aside: DR stores the
    /// rewritten body compactly, AWS returns what it was given); text that is not JSON
    /// equals only itself.
    pub fn same_body(&self, other: &Self) -> bool {
        let parse = |t: &Self| serde_json::from_str::<Value>(&t.template_body);
        match (parse(self), parse(other)) {
            (Ok(a), Ok(b)) => a == b,
            _ => self.template_body == other.template_body,
        }
    }

    /// Whether the settings UpdateProvisioningTemplate changes are the same: description,
    /// enabled, provisioning role, pre-provisioning hook.
    pub fn same_settings(&self, other: &Self) -> bool {
        self.description == other.description
            && self.enabled == other.enabled
            && self.provisioning_role_arn == other.provisioning_role_arn
            && self.pre_provisioning_hook == other.pre_provisioning_hook
    }

    /// The rules AWS applies to a template, checked at the boundary: a message that breaks
    /// them would fail in DR anyway, after retries, with a vaguer reason.
    pub fn check(&self) -> Result<(), String> {
        let name = &self.template_name;
        if self.template_body.chars().count() > MAX_TEMPLATE_BODY_CHARS {
            return Err(format!(
                "provisioning template {name}: the body is over AWS's {MAX_TEMPLATE_BODY_CHARS} characters"
            ));
        }
        match serde_json::from_str::<Value>(&self.template_body) {
            Ok(Value::Object(_)) => {}
            _ => {
                return Err(format!(
                    "provisioning template {name}: the body is not a JSON object"
                ))
            }
        }
        if self
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_TEMPLATE_DESCRIPTION_CHARS)
        {
            return Err(format!(
                "provisioning template {name}: the description is over {MAX_TEMPLATE_DESCRIPTION_CHARS} characters"
            ));
        }
        if !is_arn_of(&self.provisioning_role_arn, "iam", "role/") {
            return Err(format!(
                "provisioning template {name}: {:?} is not an IAM role ARN",
                self.provisioning_role_arn
            ));
        }
        if let Some(hook) = &self.pre_provisioning_hook {
            if self.template_type == TemplateType::Jitp {
                return Err(format!(
                    "provisioning template {name}: AWS allows a pre-provisioning hook on fleet provisioning templates only"
                ));
            }
            if !is_arn_of(&hook.target_arn, "lambda", "function:") {
                return Err(format!(
                    "provisioning template {name}: the hook {:?} is not a Lambda function ARN",
                    hook.target_arn
                ));
            }
            if hook.payload_version != HOOK_PAYLOAD_VERSION {
                return Err(format!(
                    "provisioning template {name}: hook payload version {:?}; AWS defines {HOOK_PAYLOAD_VERSION} only",
                    hook.payload_version
                ));
            }
        }
        let placeholder = ArnRewrite::new(
            "000000000000".parse().expect("a valid placeholder account"),
            "xx-neutral-1".parse().expect("a valid placeholder region"),
            "000000000000".parse().expect("a valid placeholder account"),
            "xx-neutral-1".parse().expect("a valid placeholder region"),
        );
        rewrite_body(&self.template_body, &placeholder)
            .map_err(|e| format!("provisioning template {name}: {e}"))?;
        let named = self.named_policies();
        for policy in &self.policies {
            if !named.contains(&policy.policy_name) {
                return Err(format!(
                    "provisioning template {name}: carries policy {} that its body does not name",
                    policy.policy_name
                ));
            }
        }
        Ok(())
    }
}

/// The body's resources, whatever their logical names.
fn resources(body: &Value) -> impl Iterator<Item = &Value> {
    body.get("Resources")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|r| r.values())
}

/// Rewrite a template body for DR: every ARN string, and every ARN inside the policy
/// documents it holds as JSON strings. The result is compact JSON.
pub fn rewrite_body(body: &str, rewrite: &ArnRewrite) -> Result<String, String> {
    let mut value: Value =
        serde_json::from_str(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    rewrite_strings(&mut value, rewrite)?;
    Ok(value.to_string())
}

fn rewrite_strings(value: &mut Value, rewrite: &ArnRewrite) -> Result<(), String> {
    match value {
        Value::String(text) => *text = rewrite.rewrite_arn(text),
        Value::Array(items) => {
            for item in items {
                rewrite_strings(item, rewrite)?;
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                match item {
                    // A policy's document, as the template grammar has it: a JSON string.
                    Value::String(document) if key == "PolicyDocument" => {
                        *document = rewrite.rewrite_document(document).map_err(|e| {
                            format!("a PolicyDocument in the body cannot be read: {e}")
                        })?;
                    }
                    _ => rewrite_strings(item, rewrite)?,
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// `arn:<partition>:<service>:<region>:<12-digit account>:<resource prefix><name>`.
fn is_arn_of(arn: &str, service: &str, resource_prefix: &str) -> bool {
    let fields: Vec<&str> = arn.splitn(6, ':').collect();
    fields.len() == 6
        && fields[0] == "arn"
        && fields[2] == service
        && fields[4].parse::<crate::ids::AccountId>().is_ok()
        && fields[5].len() > resource_prefix.len()
        && fields[5].starts_with(resource_prefix)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const PRIMARY: &str = "111111111111";

    /// A fleet-provisioning template as AWS's developer guide writes them: a created policy
    /// with an ARN in its document, a policy attached by name, a hook and a role.
    pub(crate) fn wearable_template() -> ProvisioningTemplateRecord {
        let document = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:{PRIMARY}:client/${{iot:Connection.Thing.ThingName}}"}}]}}"#
        );
        let body = serde_json::json!({
            "Parameters": {"SerialNumber": {"Type": "String"}, "AWS::IoT::Certificate::Id": {"Type": "String"}},
            "Resources": {
                "thing": {"Type": "AWS::IoT::Thing", "Properties": {
                    "ThingName": {"Fn::Join": ["", ["wearable-", {"Ref": "SerialNumber"}]]},
                    "ThingGroups": ["ward-cardiology"]}},
                "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {
                    "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}},
                "connect": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": document}},
                "alerts": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "ward-alerts"}}
            }
        });
        ProvisioningTemplateRecord {
            template_name: "wearable-enrolment".parse().unwrap(),
            description: Some("claim-certificate enrolment of wearables".to_owned()),
            template_body: body.to_string(),
            enabled: true,
            provisioning_role_arn: format!("arn:aws:iam::{PRIMARY}:role/iot-provisioning"),
            pre_provisioning_hook: Some(ProvisioningHook {
                payload_version: HOOK_PAYLOAD_VERSION.to_owned(),
                target_arn: format!("arn:aws:lambda:us-east-1:{PRIMARY}:function:vet-wearable"),
            }),
            template_type: TemplateType::FleetProvisioning,
            policies: vec![PolicyRecord {
                policy_name: "ward-alerts".parse().unwrap(),
                document: format!(
                    r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:{PRIMARY}:topic/alerts/*"}}]}}"#
                ),
            }],
        }
    }

    fn to_dr() -> ArnRewrite {
        ArnRewrite::new(
            PRIMARY.parse().unwrap(),
            "us-east-1".parse().unwrap(),
            "222222222222".parse().unwrap(),
            "us-west-2".parse().unwrap(),
        )
    }

    #[test]
    fn in_dr_maps_the_role_the_hook_and_every_arn_in_the_body_and_policies() {
        let template = wearable_template();
        assert_eq!(template.check(), Ok(()));
        let in_dr = template.in_dr(&to_dr()).unwrap();
        assert_eq!(
            in_dr.provisioning_role_arn,
            "arn:aws:iam::222222222222:role/iot-provisioning"
        );
        assert_eq!(
            in_dr.pre_provisioning_hook.unwrap().target_arn,
            "arn:aws:lambda:us-west-2:222222222222:function:vet-wearable"
        );
        let body: Value = serde_json::from_str(&in_dr.template_body).unwrap();
        let document: Value = serde_json::from_str(
            body["Resources"]["connect"]["Properties"]["PolicyDocument"]
                .as_str()
                .expect("the document stays a JSON string, as the grammar wants"),
        )
        .unwrap();
        assert_eq!(
            document["Statement"][0]["Resource"],
            "arn:aws:iot:us-west-2:222222222222:client/${iot:Connection.Thing.ThingName}"
        );
        assert!(!in_dr.template_body.contains(PRIMARY));
        assert!(in_dr.policies[0]
            .document
            .contains("us-west-2:222222222222"));
        assert_eq!(body["Resources"]["thing"], {
            let original: Value = serde_json::from_str(&template.template_body).unwrap();
            original["Resources"]["thing"].clone()
        });
    }

    #[test]
    fn a_fragment_of_primary_s_arn_the_rewrite_cannot_see_is_noticed() {
        let mut template = wearable_template();
        assert!(!template.in_dr(&to_dr()).unwrap().names_the_source(&to_dr()));
        let uploads = |parts: serde_json::Value| {
            serde_json::json!({"Resources": {"thing": {"Type": "AWS::IoT::Thing",
                "Properties": {"AttributePayload": {"uploads": {"Fn::Join": ["", parts]}}}}}})
            .to_string()
        };
        template.policies.clear();
        template.template_body = uploads(serde_json::json!([format!(
            "arn:aws:s3:us-east-1:{PRIMARY}:bucket"
        )]));
        assert!(!template.in_dr(&to_dr()).unwrap().names_the_source(&to_dr()));
        template.template_body = uploads(serde_json::json!([
            "arn:aws:s3:",
            format!("us-east-1:{PRIMARY}:bucket")
        ]));
        assert!(template.in_dr(&to_dr()).unwrap().names_the_source(&to_dr()));
    }

    #[test]
    fn an_empty_description_is_no_description() {
        let mut template = wearable_template();
        template.description = Some(String::new());
        assert_eq!(template.in_dr(&to_dr()).unwrap().description, None);
    }

    #[test]
    fn named_policies_are_the_literal_names_only() {
        let mut template = wearable_template();
        assert_eq!(
            template.named_policies(),
            vec!["ward-alerts".parse::<PolicyName>().unwrap()]
        );
        template.template_body = r#"{"Resources":{"p":{"Type":"AWS::IoT::Policy","Properties":{"PolicyName":{"Ref":"Policy"}}}}}"#.to_owned();
        assert!(template.named_policies().is_empty());
        assert!(template.check().unwrap_err().contains("does not name"));
    }

    #[test]
    fn provisions_as_ignores_formatting_not_settings() {
        let template = wearable_template();
        let mut reformatted = template.clone();
        reformatted.template_body = serde_json::to_string_pretty(
            &serde_json::from_str::<Value>(&template.template_body).unwrap(),
        )
        .unwrap();
        reformatted.policies.clear();
        assert!(template.provisions_as(&reformatted));
        let mut disabled = reformatted.clone();
        disabled.enabled = false;
        assert!(!template.provisions_as(&disabled));
        let mut unhooked = reformatted;
        unhooked.pre_provisioning_hook = None;
        assert!(!template.provisions_as(&unhooked));
    }

    #[test]
    fn check_refuses_what_aws_refuses() {
        type Breakage = fn(&mut ProvisioningTemplateRecord);
        let cases: [(&str, Breakage); 6] = [
            ("not a JSON object", |t| t.template_body = "[1]".to_owned()),
            ("over AWS's", |t| {
                t.template_body = format!(r#"{{"x":"{}"}}"#, "a".repeat(MAX_TEMPLATE_BODY_CHARS))
            }),
            ("not an IAM role ARN", |t| {
                t.provisioning_role_arn = "arn:aws:iam::111111111111:user/someone".to_owned()
            }),
            ("fleet provisioning templates only", |t| {
                t.template_type = TemplateType::Jitp
            }),
            ("not a Lambda function ARN", |t| {
                t.pre_provisioning_hook.as_mut().unwrap().target_arn =
                    "arn:aws:sns:us-east-1:111111111111:topic".to_owned()
            }),
            ("payload version", |t| {
                t.pre_provisioning_hook.as_mut().unwrap().payload_version = "2019-01-01".to_owned()
            }),
        ];
        for (expected, break_it) in cases {
            let mut template = wearable_template();
            break_it(&mut template);
            let error = template.check().unwrap_err();
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
    }

    #[test]
    fn an_unreadable_policy_document_in_the_body_is_an_error_not_a_silent_copy() {
        let mut template = wearable_template();
        template.template_body =
            r#"{"Resources":{"p":{"Type":"AWS::IoT::Policy","Properties":{"PolicyDocument":"{not json"}}}}"#
                .to_owned();
        template.policies.clear();
        assert!(template
            .in_dr(&to_dr())
            .unwrap_err()
            .contains("PolicyDocument"));
    }
}
