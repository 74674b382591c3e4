//! What an API call asks IAM for: the action, the resources it is authorized on, and the
//! condition keys it carries — for every operation the control plane's code calls, with the
//! resource types of the IAM service reference (a test checks them against cfn-lint's copy).
//!
//! An operation not modelled here is refused (`no IAM model`), so a new call in the code
//! fails its sandbox test until it is modelled, instead of passing unchecked.
//!
//! Long because its unit tests live beside the table they check (the model itself ends
//! at line ~515); one table, so that an operation missing from it is easy to see.

use std::collections::BTreeMap;

use super::policy::Request;
use crate::aws_request::ApiRequest;

/// The IAM prefix of a SigV4 service name (they differ for CloudWatch and IoT's data plane).
pub fn iam_prefix(service: &str) -> &str {
    match service {
        "monitoring" => "cloudwatch",
        "iotdata" | "iot-data" => "iot",
        other => other,
    }
}

/// The IAM request of `call`, made by a principal of `account`.
pub fn authorization(
    call: &ApiRequest,
    account: &str,
    principal_arn: &str,
) -> Result<Request, String> {
    let region = call.region.as_str();
    let op = call.operation.as_str();
    let arn =
        |service: &str, resource: &str| format!("arn:aws:{service}:{region}:{account}:{resource}");
    let missing = |name: &str| format!("{}:{op} without {name}", call.service);
    let need = |name: &str| call.param(name).ok_or_else(|| missing(name));
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let star = || vec!["*".to_owned()];

    let (action, resources): (String, Vec<String>) = match call.service.as_str() {
        "sts" => match op {
            "AssumeRole" => ("AssumeRole".into(), vec![need("RoleArn")?.to_owned()]),
            _ => return Err(no_model(call)),
        },
        "iot" | "iotdata" | "iot-data" => {
            let seg = call.segments();
            let nth = |i: usize| seg.get(i).cloned().ok_or_else(|| missing("a path segment"));
            let resources = match op {
                "DescribeCertificate" | "UpdateCertificate" | "DeleteCertificate" => {
                    vec![arn("iot", &format!("cert/{}", nth(1)?))]
                }
                "DescribeCACertificate" | "UpdateCACertificate" => {
                    vec![arn("iot", &format!("cacert/{}", nth(1)?))]
                }
                "ListPrincipalThings"
                | "ListPrincipalThingsV2"
                | "AttachThingPrincipal"
                | "DetachThingPrincipal" => {
                    vec![call
                        .headers
                        .get("x-amzn-principal")
                        .cloned()
                        .ok_or_else(|| missing("x-amzn-principal"))?]
                }
                "AttachPolicy" | "DetachPolicy" => vec![need("target")?.to_owned()],
                "ListThingPrincipals"
                | "ListThingPrincipalsV2"
                | "DescribeThing"
                | "CreateThing"
                | "UpdateThing"
                | "DeleteThing" => vec![arn("iot", &format!("thing/{}", nth(1)?))],
                "GetPolicy"
                | "CreatePolicy"
                | "DeletePolicy"
                | "ListPolicyVersions"
                | "CreatePolicyVersion"
                | "GetPolicyVersion"
                | "SetDefaultPolicyVersion"
                | "DeletePolicyVersion"
                | "ListTargetsForPolicy" => {
                    vec![arn("iot", &format!("policy/{}", nth(1)?))]
                }
                "DescribeThingGroup"
                | "CreateThingGroup"
                | "UpdateThingGroup"
                | "DeleteThingGroup"
                | "ListThingsInThingGroup"
                | "CreateDynamicThingGroup"
                | "UpdateDynamicThingGroup"
                | "DeleteDynamicThingGroup" => {
                    vec![arn("iot", &format!("thinggroup/{}", nth(1)?))]
                }
                "ListThingGroupsForThing" => vec![arn("iot", &format!("thing/{}", nth(1)?))],
                "GetThingShadow" | "UpdateThingShadow" | "DeleteThingShadow" => {
                    vec![arn("iot", &format!("thing/{}", nth(1)?))]
                }
                "ListNamedShadowsForThing" => vec![arn("iot", &format!("thing/{}", nth(4)?))],
                "DescribeRoleAlias" | "CreateRoleAlias" | "UpdateRoleAlias" | "DeleteRoleAlias" => {
                    vec![arn("iot", &format!("rolealias/{}", nth(1)?))]
                }
                // The name is in the body on creation, in the path after.
                "CreateProvisioningTemplate" => {
                    vec![arn(
                        "iot",
                        &format!("provisioningtemplate/{}", need("templateName")?),
                    )]
                }
                "DescribeProvisioningTemplate"
                | "UpdateProvisioningTemplate"
                | "DeleteProvisioningTemplate"
                | "ListProvisioningTemplateVersions"
                | "CreateProvisioningTemplateVersion"
                | "DescribeProvisioningTemplateVersion"
                | "DeleteProvisioningTemplateVersion" => {
                    vec![arn("iot", &format!("provisioningtemplate/{}", nth(1)?))]
                }
                // The thing and the group, each named or given by ARN.
                "AddThingToThingGroup" | "RemoveThingFromThingGroup" => {
                    let thing = match call.param("thingArn") {
                        Some(arn) => arn.to_owned(),
                        None => arn("iot", &format!("thing/{}", need("thingName")?)),
                    };
                    let group = match call.param("thingGroupArn") {
                        Some(arn) => arn.to_owned(),
                        None => arn("iot", &format!("thinggroup/{}", need("thingGroupName")?)),
                    };
                    vec![thing, group]
                }
                "CreateThingType" | "DescribeThingType" | "UpdateThingType"
                | "DeprecateThingType" => {
                    vec![arn("iot", &format!("thingtype/{}", nth(1)?))]
                }
                "DescribeDomainConfiguration" => {
                    vec![arn("iot", &format!("domainconfiguration/{}", nth(1)?))]
                }
                "GetTopicRule" => vec![arn("iot", &format!("rule/{}", nth(1)?))],
                // No resource type in the IAM reference: authorized on "*" only.
                "ListCertificates"
                | "ListCACertificates"
                | "ListPolicies"
                | "ListThings"
                | "ListThingTypes"
                | "ListDomainConfigurations"
                | "ListAttachedPolicies"
                | "ListRoleAliases"
                | "ListProvisioningTemplates"
                | "ListThingGroups"
                | "RegisterCertificate"
                | "RegisterCertificateWithoutCA"
                | "DescribeEventConfigurations"
                | "UpdateEventConfigurations"
                | "DescribeEndpoint"
                | "ListTopicRules"
                | "ListTopicRuleDestinations" => star(),
                _ => return Err(no_model(call)),
            };
            (op.to_owned(), resources)
        }
        "sns" => {
            let resources = match op {
                "Publish" => vec![call
                    .param("TopicArn")
                    .or_else(|| call.param("TargetArn"))
                    .ok_or_else(|| missing("TopicArn"))?
                    .to_owned()],
                "GetTopicAttributes" | "ListSubscriptionsByTopic" | "Subscribe" => {
                    vec![need("TopicArn")?.to_owned()]
                }
                "ListTopics" => star(),
                _ => return Err(no_model(call)),
            };
            (op.to_owned(), resources)
        }
        "sqs" => {
            // Batch calls are authorized as their single-message actions.
            let action = match op {
                "SendMessageBatch" => "SendMessage",
                "DeleteMessageBatch" => "DeleteMessage",
                "ChangeMessageVisibilityBatch" => "ChangeMessageVisibility",
                other => other,
            };
            let resources = match op {
                "GetQueueUrl" => {
                    let owner = call.param("QueueOwnerAWSAccountId").unwrap_or(account);
                    vec![format!(
                        "arn:aws:sqs:{region}:{owner}:{}",
                        need("QueueName")?
                    )]
                }
                "SendMessage"
                | "SendMessageBatch"
                | "ReceiveMessage"
                | "DeleteMessage"
                | "DeleteMessageBatch"
                | "ChangeMessageVisibility"
                | "ChangeMessageVisibilityBatch"
                | "GetQueueAttributes"
                | "PurgeQueue" => {
                    vec![queue_arn(need("QueueUrl")?, region, account)]
                }
                "ListQueues" => star(),
                _ => return Err(no_model(call)),
            };
            (action.to_owned(), resources)
        }
        "dynamodb" => {
            let table = |name: &str| arn("dynamodb", &format!("table/{name}"));
            let resources = match op {
                "GetItem"
                | "PutItem"
                | "UpdateItem"
                | "DeleteItem"
                | "Query"
                | "Scan"
                | "DescribeTable"
                | "DescribeContinuousBackups" => vec![table(need("TableName")?)],
                "BatchGetItem" | "BatchWriteItem" => call
                    .json
                    .as_ref()
                    .and_then(|j| j.get("RequestItems"))
                    .and_then(serde_json::Value::as_object)
                    .map(|items| items.keys().map(|t| table(t)).collect())
                    .ok_or_else(|| missing("RequestItems"))?,
                "ListTables" => star(),
                _ => return Err(no_model(call)),
            };
            (op.to_owned(), resources)
        }
        "monitoring" => {
            let alarm = |name: &str| arn("cloudwatch", &format!("alarm:{name}"));
            let resources = match op {
                "PutMetricData" => {
                    if let Some(namespace) = call.param("Namespace") {
                        keys.insert("cloudwatch:namespace".into(), vec![namespace.to_owned()]);
                    }
                    star()
                }
                "DescribeAlarms" => {
                    let names = call.list_param("AlarmNames");
                    if names.is_empty() {
                        vec![alarm("*")]
                    } else {
                        names.into_iter().map(alarm).collect()
                    }
                }
                "PutMetricAlarm" | "SetAlarmState" | "DescribeAlarmHistory" => {
                    vec![alarm(need("AlarmName")?)]
                }
                "GetMetricData" | "GetMetricStatistics" | "ListMetrics" => star(),
                _ => return Err(no_model(call)),
            };
            (op.to_owned(), resources)
        }
        "route53" => {
            let seg: Vec<String> = call.segments().into_iter().skip(1).collect();
            let id = |i: usize| seg.get(i).cloned().ok_or_else(|| missing("an id"));
            let resources = match op {
                "ListHostedZonesByName"
                | "ListHostedZones"
                | "ListHealthChecks"
                | "CreateHealthCheck"
                | "CreateHostedZone" => star(),
                "GetHostedZone" | "ListResourceRecordSets" => {
                    vec![format!("arn:aws:route53:::hostedzone/{}", id(1)?)]
                }
                "ChangeResourceRecordSets" => {
                    let body = String::from_utf8_lossy(&call.body);
                    keys.insert(
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames".into(),
                        xml_values(&body, "Name")
                            .into_iter()
                            .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
                            .collect(),
                    );
                    keys.insert(
                        "route53:ChangeResourceRecordSetsRecordTypes".into(),
                        xml_values(&body, "Type"),
                    );
                    keys.insert(
                        "route53:ChangeResourceRecordSetsActions".into(),
                        xml_values(&body, "Action"),
                    );
                    vec![format!("arn:aws:route53:::hostedzone/{}", id(1)?)]
                }
                "GetChange" => vec![format!("arn:aws:route53:::change/{}", id(1)?)],
                "GetHealthCheck"
                | "GetHealthCheckStatus"
                | "UpdateHealthCheck"
                | "DeleteHealthCheck" => {
                    vec![format!("arn:aws:route53:::healthcheck/{}", id(1)?)]
                }
                _ => return Err(no_model(call)),
            };
            (op.to_owned(), resources)
        }
        "ssm" => {
            let resources = match op {
                // A parameter's ARN drops its name's leading slash.
                "PutParameter" | "GetParameter" | "DeleteParameter" => vec![arn(
                    "ssm",
                    &format!("parameter/{}", need("Name")?.trim_start_matches('/')),
                )],
                _ => return Err(no_model(call)),
            };
            (op.to_owned(), resources)
        }
        "servicequotas" => {
            let resources = match op {
                // An applied quota's ARN: `…:servicequotas:<region>:<account>:<service>/<code>`.
                "GetServiceQuota" => vec![arn(
                    "servicequotas",
                    &format!("{}/{}", need("ServiceCode")?, need("QuotaCode")?),
                )],
                "GetAWSDefaultServiceQuota" => star(),
                _ => return Err(no_model(call)),
            };
            (op.to_owned(), resources)
        }
        "secretsmanager" => {
            let resources = match op {
                "DescribeSecret" | "GetSecretValue" => {
                    let id = need("SecretId")?;
                    if id.starts_with("arn:") {
                        vec![id.to_owned()]
                    } else {
                        vec![arn("secretsmanager", &format!("secret:{id}"))]
                    }
                }
                _ => return Err(no_model(call)),
            };
            (op.to_owned(), resources)
        }
        // IAM is global: its ARNs name no region.
        "iam" => {
            let resources = match op {
                "GetRole" => vec![format!("arn:aws:iam::{account}:role/{}", need("RoleName")?)],
                _ => return Err(no_model(call)),
            };
            (op.to_owned(), resources)
        }
        "rds" => (op.to_owned(), rds_resources(call, region, account)?),
        "kms" => {
            let resources = match op {
                "DescribeKey" | "Decrypt" | "Encrypt" | "GenerateDataKey" | "CreateGrant"
                | "GetKeyPolicy" => vec![key_arn(need("KeyId")?, region, account)],
                "ListAliases" | "ListKeys" => star(),
                _ => return Err(no_model(call)),
            };
            (op.to_owned(), resources)
        }
        _ => return Err(no_model(call)),
    };
    keys.insert("aws:PrincipalArn".into(), vec![principal_arn.to_owned()]);
    keys.insert("aws:PrincipalAccount".into(), vec![account.to_owned()]);
    keys.insert("aws:RequestedRegion".into(), vec![region.to_owned()]);
    // What the real SDK does: every call over TLS.
    keys.insert("aws:SecureTransport".into(), vec!["true".to_owned()]);
    Ok(Request {
        action: format!("{}:{action}", iam_prefix(&call.service)),
        resources,
        keys,
    })
}

/// The second authorization a call needs when it hands a role to a service, as IAM's user
/// guide says ("when a user passes a role ARN as a parameter to any API that uses the role
/// to assign permissions to the service, the service checks whether that user has the
/// iam:PassRole permission"): `iam:PassRole` on the role, with the service that will
/// assume it in `iam:PassedToService`. `None` for a call that passes no role.
pub fn passed_role(call: &ApiRequest, base: &Request) -> Option<Request> {
    let (parameter, service) = match (iam_prefix(&call.service), call.operation.as_str()) {
        // The credentials provider assumes a role alias's role for devices.
        ("iot", "CreateRoleAlias" | "UpdateRoleAlias") => {
            ("roleArn", "credentials.iot.amazonaws.com")
        }
        // IoT assumes a template's role to create the body's resources.
        ("iot", "CreateProvisioningTemplate" | "UpdateProvisioningTemplate") => {
            ("provisioningRoleArn", "iot.amazonaws.com")
        }
        _ => return None,
    };
    let role = call.param(parameter)?;
    let mut keys = base.keys.clone();
    keys.insert("iam:PassedToService".into(), vec![service.to_owned()]);
    Some(Request {
        action: "iam:PassRole".to_owned(),
        resources: vec![role.to_owned()],
        keys,
    })
}

fn no_model(call: &ApiRequest) -> String {
    format!(
        "the sandbox has no IAM model of {}:{} (add it to crates/sandbox/src/iam/request.rs)",
        iam_prefix(&call.service),
        call.operation
    )
}

/// RDS: the resources each operation names (db, cluster, snapshot, cluster-snapshot and the
/// option, parameter and subnet groups of a restore).
fn rds_resources(call: &ApiRequest, region: &str, account: &str) -> Result<Vec<String>, String> {
    let op = call.operation.as_str();
    let named = |kind: &str, id: &str| -> String {
        if id.starts_with("arn:") {
            id.to_owned()
        } else {
            format!("arn:aws:rds:{region}:{account}:{kind}:{id}")
        }
    };
    let opt = |param: &str, kind: &str| call.param(param).map(|id| named(kind, id));
    let need = |param: &str, kind: &str| {
        opt(param, kind).ok_or_else(|| format!("rds:{op} without {param}"))
    };
    let or_all = |found: Vec<Option<String>>, kind: &str| -> Vec<String> {
        let found: Vec<String> = found.into_iter().flatten().collect();
        if found.is_empty() {
            vec![named(kind, "*")]
        } else {
            found
        }
    };
    Ok(match op {
        "DescribeDBSnapshots" => or_all(
            vec![
                opt("DBInstanceIdentifier", "db"),
                opt("DBSnapshotIdentifier", "snapshot"),
            ],
            "snapshot",
        ),
        "DescribeDBClusterSnapshots" => or_all(
            vec![
                opt("DBClusterIdentifier", "cluster"),
                opt("DBClusterSnapshotIdentifier", "cluster-snapshot"),
            ],
            "cluster-snapshot",
        ),
        "DescribeDBInstances" => or_all(vec![opt("DBInstanceIdentifier", "db")], "db"),
        "DescribeDBClusters" => or_all(vec![opt("DBClusterIdentifier", "cluster")], "cluster"),
        "DescribeDBSnapshotAttributes" | "ModifyDBSnapshotAttribute" | "DeleteDBSnapshot" => {
            vec![need("DBSnapshotIdentifier", "snapshot")?]
        }
        "DescribeDBClusterSnapshotAttributes"
        | "ModifyDBClusterSnapshotAttribute"
        | "DeleteDBClusterSnapshot" => {
            vec![need("DBClusterSnapshotIdentifier", "cluster-snapshot")?]
        }
        "CreateDBSnapshot" => vec![
            need("DBInstanceIdentifier", "db")?,
            need("DBSnapshotIdentifier", "snapshot")?,
        ],
        "CreateDBClusterSnapshot" => vec![
            need("DBClusterIdentifier", "cluster")?,
            need("DBClusterSnapshotIdentifier", "cluster-snapshot")?,
        ],
        "CopyDBSnapshot" => vec![
            need("SourceDBSnapshotIdentifier", "snapshot")?,
            need("TargetDBSnapshotIdentifier", "snapshot")?,
        ],
        "CopyDBClusterSnapshot" => vec![
            need("SourceDBClusterSnapshotIdentifier", "cluster-snapshot")?,
            need("TargetDBClusterSnapshotIdentifier", "cluster-snapshot")?,
        ],
        "AddTagsToResource" | "ListTagsForResource" | "RemoveTagsFromResource" => {
            vec![call
                .param("ResourceName")
                .ok_or_else(|| format!("rds:{op} without ResourceName"))?
                .to_owned()]
        }
        "RestoreDBInstanceFromDBSnapshot" => {
            let mut r = vec![
                need("DBInstanceIdentifier", "db")?,
                need("DBSnapshotIdentifier", "snapshot")?,
            ];
            r.extend(opt("DBSubnetGroupName", "subgrp"));
            r.extend(opt("DBParameterGroupName", "pg"));
            r.extend(opt("OptionGroupName", "og"));
            r
        }
        "RestoreDBClusterFromSnapshot" => {
            let snapshot = call.param("SnapshotIdentifier").unwrap_or_default();
            let kind = if snapshot.contains(":snapshot:") {
                "snapshot"
            } else {
                "cluster-snapshot"
            };
            let mut r = vec![
                need("DBClusterIdentifier", "cluster")?,
                named(kind, snapshot),
            ];
            r.extend(opt("DBSubnetGroupName", "subgrp"));
            r.extend(opt("DBClusterParameterGroupName", "cluster-pg"));
            r.extend(opt("OptionGroupName", "og"));
            r
        }
        "CreateDBInstance" => {
            let mut r = vec![need("DBInstanceIdentifier", "db")?];
            r.extend(opt("DBClusterIdentifier", "cluster"));
            r.extend(opt("DBSubnetGroupName", "subgrp"));
            r.extend(opt("DBParameterGroupName", "pg"));
            r.extend(opt("OptionGroupName", "og"));
            r
        }
        "DeleteDBInstance" => vec![need("DBInstanceIdentifier", "db")?],
        // A global cluster's ARN names no region (it spans them).
        "DescribeGlobalClusters" => vec![format!(
            "arn:aws:rds::{account}:global-cluster:{}",
            call.param("GlobalClusterIdentifier").unwrap_or("*")
        )],
        "RemoveFromGlobalCluster" => vec![
            format!(
                "arn:aws:rds::{account}:global-cluster:{}",
                call.param("GlobalClusterIdentifier")
                    .ok_or_else(|| format!("rds:{op} without GlobalClusterIdentifier"))?
            ),
            need("DbClusterIdentifier", "cluster")?,
        ],
        "DeleteDBCluster" => vec![need("DBClusterIdentifier", "cluster")?],
        "DescribeDBSubnetGroups" => or_all(vec![opt("DBSubnetGroupName", "subgrp")], "subgrp"),
        "DescribeDBParameterGroups" => or_all(vec![opt("DBParameterGroupName", "pg")], "pg"),
        "DescribeDBClusterParameterGroups" => or_all(
            vec![opt("DBClusterParameterGroupName", "cluster-pg")],
            "cluster-pg",
        ),
        "DescribeOptionGroups" => or_all(vec![opt("OptionGroupName", "og")], "og"),
        "DescribeDBInstanceAutomatedBackups" => or_all(
            vec![
                opt("DBInstanceAutomatedBackupsArn", "auto-backup"),
                opt("DBInstanceIdentifier", "db"),
            ],
            "auto-backup",
        ),
        "StartDBInstanceAutomatedBackupsReplication" => {
            vec![need("SourceDBInstanceArn", "db")?]
        }
        "RestoreDBInstanceToPointInTime" => {
            let mut r = vec![need("TargetDBInstanceIdentifier", "db")?];
            r.extend(opt("SourceDBInstanceAutomatedBackupsArn", "auto-backup"));
            r.extend(opt("SourceDBInstanceIdentifier", "db"));
            r.extend(opt("DBSubnetGroupName", "subgrp"));
            r.extend(opt("DBParameterGroupName", "pg"));
            r.extend(opt("OptionGroupName", "og"));
            r
        }
        _ => return Err(no_model(call)),
    })
}

/// `https://host/<account>/<name>` → `arn:aws:sqs:<region>:<account>:<name>`.
fn queue_arn(url: &str, region: &str, account: &str) -> String {
    let mut parts = url.trim_end_matches('/').rsplit('/');
    let name = parts.next().unwrap_or_default();
    let owner = parts
        .next()
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or(account);
    format!("arn:aws:sqs:{region}:{owner}:{name}")
}

/// A KMS key as IAM sees it: by key ARN (a bare id is in the caller's account and region;
/// an alias is left as the alias ARN, which no key statement matches — call keys by id).
fn key_arn(key: &str, region: &str, account: &str) -> String {
    if key.starts_with("arn:") {
        key.to_owned()
    } else if let Some(alias) = key.strip_prefix("alias/") {
        format!("arn:aws:kms:{region}:{account}:alias/{alias}")
    } else {
        format!("arn:aws:kms:{region}:{account}:key/{key}")
    }
}

/// The text of every `<tag>…</tag>` in `xml`.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(v, _)| v.trim().to_owned()))
        .collect()
}

/// Every operation modelled, as `service:Operation` with the resource types the IAM
/// reference lists for it (checked against cfn-lint's copy in this module's tests).
#[cfg(test)]
const MODELLED: &[(&str, &[&str])] = &[
    ("iot:DescribeCertificate", &["cert"]),
    ("iot:UpdateCertificate", &["cert"]),
    ("iot:DeleteCertificate", &["cert"]),
    ("iot:DescribeCACertificate", &["cacert"]),
    ("iot:UpdateCACertificate", &["cacert"]),
    ("iot:ListPrincipalThings", &["cert"]),
    ("iot:ListPrincipalThingsV2", &["cert"]),
    ("iot:AttachThingPrincipal", &["cert"]),
    ("iot:DetachThingPrincipal", &["cert"]),
    ("iot:AttachPolicy", &["cert", "thinggroup"]),
    ("iot:DetachPolicy", &["cert", "thinggroup"]),
    ("iot:ListThingPrincipals", &["thing"]),
    ("iot:ListThingPrincipalsV2", &["thing"]),
    ("iot:DescribeThing", &["thing"]),
    ("iot:CreateThing", &["thing"]),
    ("iot:UpdateThing", &["thing"]),
    ("iot:DeleteThing", &["thing"]),
    ("iot:GetPolicy", &["policy"]),
    ("iot:CreatePolicy", &["policy"]),
    ("iot:CreatePolicyVersion", &["policy"]),
    ("iot:DeletePolicyVersion", &["policy"]),
    ("iot:ListPolicyVersions", &["policy"]),
    ("iot:CreateThingType", &["thingtype"]),
    ("iot:DescribeThingType", &["thingtype"]),
    ("iot:UpdateThingType", &["thingtype"]),
    ("iot:DeprecateThingType", &["thingtype"]),
    ("iot:DescribeThingGroup", &["thinggroup"]),
    ("iot:CreateThingGroup", &["thinggroup"]),
    ("iot:UpdateThingGroup", &["thinggroup"]),
    ("iot:DeleteThingGroup", &["thinggroup"]),
    ("iot:ListThingsInThingGroup", &["thinggroup"]),
    ("iot:CreateDynamicThingGroup", &["dynamicthinggroup"]),
    ("iot:UpdateDynamicThingGroup", &["dynamicthinggroup"]),
    ("iot:DeleteDynamicThingGroup", &["dynamicthinggroup"]),
    ("iot:ListThingGroupsForThing", &["thing"]),
    ("iot:DescribeRoleAlias", &["rolealias"]),
    ("iot:CreateRoleAlias", &["rolealias"]),
    ("iot:UpdateRoleAlias", &["rolealias"]),
    ("iot:DeleteRoleAlias", &["rolealias"]),
    ("iot:ListRoleAliases", &[]),
    ("iot:ListNamedShadowsForThing", &["thing"]),
    ("iot:CreateProvisioningTemplate", &["provisioningtemplate"]),
    (
        "iot:DescribeProvisioningTemplate",
        &["provisioningtemplate"],
    ),
    ("iot:UpdateProvisioningTemplate", &["provisioningtemplate"]),
    ("iot:DeleteProvisioningTemplate", &["provisioningtemplate"]),
    (
        "iot:ListProvisioningTemplateVersions",
        &["provisioningtemplate"],
    ),
    (
        "iot:CreateProvisioningTemplateVersion",
        &["provisioningtemplate"],
    ),
    (
        "iot:DescribeProvisioningTemplateVersion",
        &["provisioningtemplate"],
    ),
    (
        "iot:DeleteProvisioningTemplateVersion",
        &["provisioningtemplate"],
    ),
    ("iot:ListProvisioningTemplates", &[]),
    ("iot:ListThingGroups", &[]),
    ("iot:GetThingShadow", &["thing"]),
    ("iot:UpdateThingShadow", &["thing"]),
    ("iot:DeleteThingShadow", &["thing"]),
    ("iot:AddThingToThingGroup", &["thing", "thinggroup"]),
    ("iot:RemoveThingFromThingGroup", &["thing", "thinggroup"]),
    ("iot:DescribeDomainConfiguration", &["domainconfiguration"]),
    ("iot:ListCertificates", &[]),
    ("iot:ListCACertificates", &[]),
    ("iot:ListPolicies", &[]),
    ("iot:ListDomainConfigurations", &[]),
    ("iot:ListTopicRules", &[]),
    ("iot:ListTopicRuleDestinations", &[]),
    ("iot:GetTopicRule", &["rule"]),
    ("iam:GetRole", &["role"]),
    ("iot:ListAttachedPolicies", &[]),
    ("iot:RegisterCertificate", &[]),
    ("iot:RegisterCertificateWithoutCA", &[]),
    ("sns:Publish", &["topic"]),
    ("sns:GetTopicAttributes", &["topic"]),
    ("sqs:GetQueueUrl", &["queue"]),
    ("sqs:SendMessage", &["queue"]),
    ("sqs:ReceiveMessage", &["queue"]),
    ("sqs:DeleteMessage", &["queue"]),
    ("sqs:ChangeMessageVisibility", &["queue"]),
    ("sqs:GetQueueAttributes", &["queue"]),
    ("dynamodb:GetItem", &["table"]),
    ("dynamodb:PutItem", &["table"]),
    ("dynamodb:UpdateItem", &["table"]),
    ("dynamodb:Scan", &["table"]),
    ("dynamodb:DescribeTable", &["table"]),
    ("cloudwatch:PutMetricData", &[]),
    ("cloudwatch:DescribeAlarms", &["alarm"]),
    ("cloudwatch:PutMetricAlarm", &["alarm"]),
    ("cloudwatch:SetAlarmState", &["alarm"]),
    ("route53:ListHostedZonesByName", &[]),
    ("route53:ListHealthChecks", &[]),
    ("route53:ListResourceRecordSets", &["hostedzone"]),
    ("route53:ChangeResourceRecordSets", &["hostedzone"]),
    ("route53:GetChange", &["change"]),
    ("route53:GetHealthCheckStatus", &["healthcheck"]),
    ("rds:DescribeDBSnapshots", &["db", "snapshot"]),
    (
        "rds:DescribeDBClusterSnapshots",
        &["cluster", "cluster-snapshot"],
    ),
    ("rds:DescribeDBInstances", &["db"]),
    ("rds:DescribeDBClusters", &["cluster"]),
    ("rds:CreateDBSnapshot", &["db", "snapshot"]),
    ("rds:CopyDBSnapshot", &["snapshot"]),
    ("rds:ModifyDBSnapshotAttribute", &["snapshot"]),
    ("rds:DeleteDBSnapshot", &["snapshot"]),
    (
        "rds:RestoreDBInstanceFromDBSnapshot",
        &["db", "og", "pg", "snapshot", "subgrp"],
    ),
    ("rds:DeleteDBInstance", &["db"]),
    ("rds:DescribeGlobalClusters", &["global-cluster"]),
    (
        "rds:RemoveFromGlobalCluster",
        &["cluster", "global-cluster"],
    ),
    (
        "rds:DescribeDBInstanceAutomatedBackups",
        &["auto-backup", "db"],
    ),
    ("rds:StartDBInstanceAutomatedBackupsReplication", &["db"]),
    (
        "rds:RestoreDBInstanceToPointInTime",
        &["auto-backup", "db", "og", "pg", "subgrp"],
    ),
    ("ssm:PutParameter", &["parameter"]),
    ("ssm:GetParameter", &["parameter"]),
    ("ssm:DeleteParameter", &["parameter"]),
    ("servicequotas:GetServiceQuota", &["quota"]),
    ("servicequotas:GetAWSDefaultServiceQuota", &[]),
    ("secretsmanager:DescribeSecret", &["Secret"]),
    ("secretsmanager:GetSecretValue", &["Secret"]),
    ("kms:DescribeKey", &["key"]),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn call(service: &str, method: &str, uri: &str, body: &str, form: bool) -> ApiRequest {
        let auth =
            format!("AWS4-HMAC-SHA256 Credential=K/20261203/us-west-2/{service}/aws4_request");
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", auth);
        if form {
            builder = builder.header("content-type", "application/x-www-form-urlencoded");
        }
        let (parts, ()) = builder.body(()).unwrap().into_parts();
        ApiRequest::classify(&parts, body.as_bytes())
    }

    const ME: &str = "arn:aws:iam::222222222222:role/r";

    #[test]
    fn iot_calls_name_the_certificate_thing_or_policy_they_touch() {
        let describe = call("iot", "GET", "/certificates/abc", "", false);
        let r = authorization(&describe, "222222222222", ME).unwrap();
        assert_eq!(r.action, "iot:DescribeCertificate");
        assert_eq!(
            r.resources,
            vec!["arn:aws:iot:us-west-2:222222222222:cert/abc"]
        );
        let list = call("iot", "GET", "/certificates?pageSize=250", "", false);
        assert_eq!(authorization(&list, "2", ME).unwrap().resources, vec!["*"]);
        let attach = call(
            "iot",
            "PUT",
            "/target-policies/p1",
            r#"{"target":"arn:aws:iot:us-west-2:2:cert/abc"}"#,
            false,
        );
        assert_eq!(
            authorization(&attach, "2", ME).unwrap().resources,
            vec!["arn:aws:iot:us-west-2:2:cert/abc"]
        );
        let unknown = call("iot", "GET", "/indices/search", "", false);
        assert!(authorization(&unknown, "2", ME)
            .unwrap_err()
            .contains("no IAM model"));
    }

    #[test]
    fn readiness_reads_topic_rules_by_rule_and_roles_by_name_without_a_region() {
        let rule = call("iot", "GET", "/rules/alerts_to_queue", "", false);
        let r = authorization(&rule, "222222222222", ME).unwrap();
        assert_eq!(r.action, "iot:GetTopicRule");
        assert_eq!(
            r.resources,
            vec!["arn:aws:iot:us-west-2:222222222222:rule/alerts_to_queue"]
        );
        let list = call("iot", "GET", "/rules?maxResults=100", "", false);
        assert_eq!(
            authorization(&list, "222222222222", ME).unwrap().resources,
            vec!["*"]
        );
        let role = call("iam", "POST", "/", "Action=GetRole&RoleName=alerts", true);
        let r = authorization(&role, "222222222222", ME).unwrap();
        assert_eq!(r.action, "iam:GetRole");
        assert_eq!(r.resources, vec!["arn:aws:iam::222222222222:role/alerts"]);
    }

    #[test]
    fn query_json_and_xml_calls_carry_their_resources_and_keys() {
        let put = call(
            "monitoring",
            "POST",
            "/",
            "Action=PutMetricData&Namespace=IotDr",
            true,
        );
        let r = authorization(&put, "2", ME).unwrap();
        assert_eq!(
            (
                r.action.as_str(),
                r.keys["cloudwatch:namespace"][0].as_str()
            ),
            ("cloudwatch:PutMetricData", "IotDr")
        );
        let snapshots = call(
            "rds",
            "POST",
            "/",
            "Action=DescribeDBSnapshots&DBInstanceIdentifier=fleetdb",
            true,
        );
        assert_eq!(
            authorization(&snapshots, "2", ME).unwrap().resources,
            vec!["arn:aws:rds:us-west-2:2:db:fleetdb"]
        );
        let all = call("rds", "POST", "/", "Action=DescribeDBSnapshots", true);
        assert_eq!(
            authorization(&all, "2", ME).unwrap().resources,
            vec!["arn:aws:rds:us-west-2:2:snapshot:*"]
        );
        let change = call(
            "route53",
            "POST",
            "/2013-04-01/hostedzone/Z1/rrset/",
            "<ChangeBatch><Changes><Change><Action>UPSERT</Action><ResourceRecordSet><Name>IoT.example.com.</Name><Type>CNAME</Type></ResourceRecordSet></Change></Changes></ChangeBatch>",
            false,
        );
        let r = authorization(&change, "2", ME).unwrap();
        assert_eq!(r.resources, vec!["arn:aws:route53:::hostedzone/Z1"]);
        assert_eq!(
            r.keys["route53:ChangeResourceRecordSetsNormalizedRecordNames"],
            vec!["iot.example.com"]
        );
        assert_eq!(
            r.keys["route53:ChangeResourceRecordSetsRecordTypes"],
            vec!["CNAME"]
        );
        assert_eq!(
            queue_arn("http://127.0.0.1:5/222222222222/q.fifo", "us-west-2", "1"),
            "arn:aws:sqs:us-west-2:222222222222:q.fifo"
        );
    }

    /// Each modelled action exists in the IAM reference with these resource types (the
    /// reference's copy in cfn-lint, installed by `make setup`).
    #[test]
    fn the_model_agrees_with_the_iam_service_reference() {
        let root = crate::LauncherPaths::repo_root();
        let Ok(lib) = std::fs::read_dir(root.join(".venv/lib")) else {
            eprintln!("skipped: no .venv (make setup)");
            return;
        };
        let Some(file) = lib
            .flatten()
            .map(|d| {
                d.path()
                    .join("site-packages/cfnlint/data/AdditionalSpecs/Policies.json")
            })
            .find(|p| p.exists())
        else {
            eprintln!("skipped: cfn-lint is not installed in .venv");
            return;
        };
        let reference: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        for (action, types) in MODELLED {
            let (service, name) = action.split_once(':').unwrap();
            let entry = &reference[service]["Actions"][name.to_ascii_lowercase()];
            assert!(entry.is_object(), "{action} is not in the IAM reference");
            let mut listed: Vec<&str> = entry["Resources"]
                .as_array()
                .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
                .unwrap_or_default();
            listed.sort_unstable();
            let mut ours = types.to_vec();
            ours.sort_unstable();
            for t in &ours {
                assert!(
                    listed.contains(t),
                    "{action}: the reference lists {listed:?}, we model {t}"
                );
            }
            // PutMetricData lists a resource type of a newer feature (metric datasets); the
            // metrics we publish have none, and AWS's own examples grant it on "*".
            if ours.is_empty() && *action != "cloudwatch:PutMetricData" {
                assert!(
                    listed.is_empty(),
                    "{action}: the reference lists {listed:?}; we authorize on *"
                );
            }
        }
    }
}
