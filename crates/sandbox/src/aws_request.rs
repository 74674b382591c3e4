//! An AWS API request as AWS routes it: the service and region from the SigV4 credential
//! scope, the caller's access key, the operation from `X-Amz-Target` (JSON protocols),
//! `Action=` (Query protocol) or the REST method and path (IoT, Route 53), and the
//! request's parameters wherever the protocol carries them. The fault proxy decides on
//! faults and outages from it, and the sandbox's IAM what the request asks for.

use std::collections::BTreeMap;

/// One classified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    /// SigV4 service name (`iot`, `sqs`, `monitoring`…); `unknown` when unsigned.
    pub service: String,
    /// SigV4 region (`us-east-1`…); `unknown` when unsigned.
    pub region: String,
    /// The signing access key id.
    pub access_key: String,
    /// The operation's name (`RegisterCertificateWithoutCA`, `ReceiveMessage`…).
    pub operation: String,
    /// How it is carried.
    pub protocol: Protocol,
    /// HTTP method.
    pub method: String,
    /// URL path, as sent (percent-encoded).
    pub path: String,
    /// Query-string parameters, decoded.
    pub query: BTreeMap<String, String>,
    /// Headers we read (lower-case names).
    pub headers: BTreeMap<String, String>,
    /// Form parameters of a Query-protocol body, decoded.
    pub form: BTreeMap<String, String>,
    /// A JSON body, parsed (JSON and REST-JSON protocols).
    pub json: Option<serde_json::Value>,
    /// The raw body (REST-XML).
    pub body: Vec<u8>,
}

/// The wire protocol of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// awsJson1_0 / awsJson1_1 (`X-Amz-Target`): DynamoDB, SQS, KMS.
    Json,
    /// awsQuery (form-encoded `Action=`): SNS, STS, CloudWatch, RDS, IAM.
    Query,
    /// restJson1: IoT.
    RestJson,
    /// restXml: Route 53.
    RestXml,
}

impl ApiRequest {
    /// Whether the request was signed with SigV4 (it names a region and a service);
    /// the sandbox's own control calls are not.
    pub fn signed(&self) -> bool {
        !(self.service == "unknown" && self.region == "unknown")
    }

    /// Classify a request from its head and body.
    pub fn classify(parts: &hyper::http::request::Parts, body: &[u8]) -> Self {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
        };
        // SigV4: Credential=AKID/20261122/us-east-1/iot/aws4_request
        let scope: Vec<&str> = header("authorization")
            .split("Credential=")
            .nth(1)
            .map(|c| c.split([',', ' ']).next().unwrap_or_default())
            .unwrap_or_default()
            .split('/')
            .collect();
        let scope_part = |i: usize| {
            scope
                .get(i)
                .copied()
                .filter(|s| !s.is_empty())
                .unwrap_or("unknown")
        };
        let service = scope_part(3).to_owned();
        let region = scope_part(2).to_owned();
        let access_key = scope.first().copied().unwrap_or_default().to_owned();
        let headers: BTreeMap<String, String> =
            ["x-amzn-principal", "x-amz-target", "content-type"]
                .into_iter()
                .map(|h| (h.to_owned(), header(h).to_owned()))
                .filter(|(_, v)| !v.is_empty())
                .collect();
        let path = parts.uri.path().to_owned();
        let query = parts.uri.query().map(form_pairs).unwrap_or_default();
        let mut request = Self {
            service,
            region,
            access_key,
            operation: String::new(),
            protocol: Protocol::RestJson,
            method: parts.method.as_str().to_owned(),
            path,
            query,
            headers,
            form: BTreeMap::new(),
            json: None,
            body: Vec::new(),
        };
        let target = header("x-amz-target");
        if !target.is_empty() {
            request.operation = target.rsplit('.').next().unwrap_or(target).to_owned();
            request.protocol = Protocol::Json;
            request.json = serde_json::from_slice(body).ok();
        } else if header("content-type").starts_with("application/x-www-form-urlencoded") {
            request.form = form_pairs(&String::from_utf8_lossy(body));
            request.operation = request
                .form
                .get("Action")
                .cloned()
                .unwrap_or_else(|| "unknown".to_owned());
            request.protocol = Protocol::Query;
        } else if request.service == "route53" {
            request.protocol = Protocol::RestXml;
            request.operation = route53_operation(&request.method, &request.path);
            request.body = body.to_vec();
        } else {
            request.operation = rest_operation(&request.method, &request.path);
            request.json = serde_json::from_slice(body).ok();
        }
        request
    }

    /// A form (Query protocol) or JSON-body parameter, or a query-string one.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form
            .get(name)
            .map(String::as_str)
            .or_else(|| {
                self.json
                    .as_ref()
                    .and_then(|j| j.get(name))
                    .and_then(serde_json::Value::as_str)
            })
            .or_else(|| self.query.get(name).map(String::as_str))
    }

    /// The values of a Query-protocol list parameter (`Name.member.1`, `Name.member.2`…,
    /// or `Name.1`…).
    pub fn list_param(&self, name: &str) -> Vec<&str> {
        let member = format!("{name}.member.");
        let plain = format!("{name}.");
        let mut items: Vec<(u32, &str)> = self
            .form
            .iter()
            .filter_map(|(k, v)| {
                let index = k.strip_prefix(&member).or_else(|| k.strip_prefix(&plain))?;
                index.parse().ok().map(|i| (i, v.as_str()))
            })
            .collect();
        items.sort();
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// The path's segments, each percent-decoded.
    pub fn segments(&self) -> Vec<String> {
        self.path
            .trim_matches('/')
            .split('/')
            .map(percent_decode)
            .collect()
    }
}

/// The IoT operations the control plane and the sandbox call, by method and path (from
/// the IoT API model); others are named `METHOD /first-segment`.
pub fn rest_operation(method: &str, path: &str) -> String {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let name = match (method, segments.as_slice()) {
        ("POST", ["certificate", "register-no-ca"]) => "RegisterCertificateWithoutCA",
        ("POST", ["certificate", "register"]) => "RegisterCertificate",
        ("GET", ["certificates"]) => "ListCertificates",
        ("POST", ["keys-and-certificate"]) => "CreateKeysAndCertificate",
        ("GET", ["certificates", _]) => "DescribeCertificate",
        ("PUT", ["certificates", _]) => "UpdateCertificate",
        ("DELETE", ["certificates", _]) => "DeleteCertificate",
        ("POST", ["cacertificate"]) => "RegisterCACertificate",
        ("GET", ["cacertificates"]) => "ListCACertificates",
        ("GET", ["cacertificate", _]) => "DescribeCACertificate",
        ("PUT", ["cacertificate", _]) => "UpdateCACertificate",
        ("PUT", ["target-policies", _]) => "AttachPolicy",
        ("POST", ["target-policies", _]) => "DetachPolicy",
        ("POST", ["attached-policies", _]) => "ListAttachedPolicies",
        ("POST", ["policy-targets", _]) => "ListTargetsForPolicy",
        ("PUT", ["things", _, "principals"]) => "AttachThingPrincipal",
        ("DELETE", ["things", _, "principals"]) => "DetachThingPrincipal",
        ("GET", ["principals", "things"]) => "ListPrincipalThings",
        ("GET", ["principals", "things-v2"]) => "ListPrincipalThingsV2",
        ("GET", ["things", _, "principals"]) => "ListThingPrincipals",
        ("GET", ["things", _, "principals-v2"]) => "ListThingPrincipalsV2",
        ("GET", ["things"]) => "ListThings",
        ("GET", ["things", _]) => "DescribeThing",
        ("POST", ["things", _]) => "CreateThing",
        ("PATCH", ["things", _]) => "UpdateThing",
        ("DELETE", ["things", _]) => "DeleteThing",
        ("GET", ["policies"]) => "ListPolicies",
        ("GET", ["policies", _]) => "GetPolicy",
        ("POST", ["policies", _]) => "CreatePolicy",
        ("DELETE", ["policies", _]) => "DeletePolicy",
        ("GET", ["policies", _, "version"]) => "ListPolicyVersions",
        ("POST", ["policies", _, "version"]) => "CreatePolicyVersion",
        ("GET", ["policies", _, "version", _]) => "GetPolicyVersion",
        ("PATCH", ["policies", _, "version", _]) => "SetDefaultPolicyVersion",
        ("DELETE", ["policies", _, "version", _]) => "DeletePolicyVersion",
        ("PUT", ["thing-groups", "addThingToThingGroup"]) => "AddThingToThingGroup",
        ("PUT", ["thing-groups", "removeThingFromThingGroup"]) => "RemoveThingFromThingGroup",
        ("PUT", ["thing-groups", "updateThingGroupsForThing"]) => "UpdateThingGroupsForThing",
        ("GET", ["thing-groups"]) => "ListThingGroups",
        ("GET", ["thing-groups", _]) => "DescribeThingGroup",
        ("POST", ["thing-groups", _]) => "CreateThingGroup",
        ("PATCH", ["thing-groups", _]) => "UpdateThingGroup",
        ("DELETE", ["thing-groups", _]) => "DeleteThingGroup",
        ("GET", ["thing-groups", _, "things"]) => "ListThingsInThingGroup",
        ("POST", ["dynamic-thing-groups", _]) => "CreateDynamicThingGroup",
        ("PATCH", ["dynamic-thing-groups", _]) => "UpdateDynamicThingGroup",
        ("DELETE", ["dynamic-thing-groups", _]) => "DeleteDynamicThingGroup",
        ("GET", ["things", _, "thing-groups"]) => "ListThingGroupsForThing",
        // The data plane (iotdata): device shadows, classic and named (`?name=`).
        ("GET", ["things", _, "shadow"]) => "GetThingShadow",
        ("POST", ["things", _, "shadow"]) => "UpdateThingShadow",
        ("DELETE", ["things", _, "shadow"]) => "DeleteThingShadow",
        ("GET", ["api", "things", "shadow", "ListNamedShadowsForThing", _]) => {
            "ListNamedShadowsForThing"
        }
        ("GET", ["role-aliases"]) => "ListRoleAliases",
        ("GET", ["role-aliases", _]) => "DescribeRoleAlias",
        ("POST", ["role-aliases", _]) => "CreateRoleAlias",
        ("PUT", ["role-aliases", _]) => "UpdateRoleAlias",
        ("DELETE", ["role-aliases", _]) => "DeleteRoleAlias",
        ("GET", ["provisioning-templates"]) => "ListProvisioningTemplates",
        ("POST", ["provisioning-templates"]) => "CreateProvisioningTemplate",
        ("GET", ["provisioning-templates", _]) => "DescribeProvisioningTemplate",
        ("PATCH", ["provisioning-templates", _]) => "UpdateProvisioningTemplate",
        ("DELETE", ["provisioning-templates", _]) => "DeleteProvisioningTemplate",
        ("GET", ["provisioning-templates", _, "versions"]) => "ListProvisioningTemplateVersions",
        ("POST", ["provisioning-templates", _, "versions"]) => "CreateProvisioningTemplateVersion",
        ("GET", ["provisioning-templates", _, "versions", _]) => {
            "DescribeProvisioningTemplateVersion"
        }
        ("DELETE", ["provisioning-templates", _, "versions", _]) => {
            "DeleteProvisioningTemplateVersion"
        }
        ("GET", ["thing-types"]) => "ListThingTypes",
        ("GET", ["thing-types", _]) => "DescribeThingType",
        ("POST", ["thing-types", _]) => "CreateThingType",
        ("PATCH", ["thing-types", _]) => "UpdateThingType",
        ("POST", ["thing-types", _, "deprecate"]) => "DeprecateThingType",
        ("GET", ["domainConfigurations"]) => "ListDomainConfigurations",
        ("GET", ["domainConfigurations", _]) => "DescribeDomainConfiguration",
        ("POST", ["domainConfigurations", _]) => "CreateDomainConfiguration",
        ("PATCH", ["event-configurations"]) => "UpdateEventConfigurations",
        ("GET", ["event-configurations"]) => "DescribeEventConfigurations",
        ("GET", ["endpoint"]) => "DescribeEndpoint",
        ("GET", ["rules"]) => "ListTopicRules",
        ("GET", ["rules", _]) => "GetTopicRule",
        ("POST", ["rules", _]) => "CreateTopicRule",
        ("GET", ["destinations"]) => "ListTopicRuleDestinations",
        _ => return format!("{method} /{}", segments.first().unwrap_or(&"")),
    };
    name.to_owned()
}

/// The Route 53 operations we call, by method and path (`/2013-04-01/…`).
pub fn route53_operation(method: &str, path: &str) -> String {
    let segments: Vec<&str> = path.trim_matches('/').split('/').skip(1).collect();
    let name = match (method, segments.as_slice()) {
        ("GET", ["hostedzonesbyname"]) => "ListHostedZonesByName",
        ("GET", ["hostedzone"]) => "ListHostedZones",
        ("POST", ["hostedzone"]) => "CreateHostedZone",
        ("GET", ["hostedzone", _]) => "GetHostedZone",
        ("DELETE", ["hostedzone", _]) => "DeleteHostedZone",
        ("GET", ["hostedzone", _, "rrset"]) => "ListResourceRecordSets",
        ("POST", ["hostedzone", _, "rrset"]) => "ChangeResourceRecordSets",
        ("GET", ["change", _]) => "GetChange",
        ("GET", ["healthcheck"]) => "ListHealthChecks",
        ("POST", ["healthcheck"]) => "CreateHealthCheck",
        ("GET", ["healthcheck", _]) => "GetHealthCheck",
        ("DELETE", ["healthcheck", _]) => "DeleteHealthCheck",
        ("POST", ["healthcheck", _]) => "UpdateHealthCheck",
        ("GET", ["healthcheck", _, "status"]) => "GetHealthCheckStatus",
        _ => return format!("{method} /{}", segments.first().unwrap_or(&"")),
    };
    name.to_owned()
}

fn form_pairs(text: &str) -> BTreeMap<String, String> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// `%XX` decoding (bytes that do not form UTF-8 are replaced).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> ApiRequest {
        let mut builder = hyper::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let (parts, ()) = builder.body(()).unwrap().into_parts();
        ApiRequest::classify(&parts, body.as_bytes())
    }

    const AUTH_IOT: &str = "AWS4-HMAC-SHA256 Credential=sandbox:w:admin/20261203/us-east-1/iot/aws4_request, SignedHeaders=host, Signature=x";

    #[test]
    fn iot_rest_calls_are_named_as_aws_names_them() {
        assert_eq!(
            rest_operation("POST", "/certificate/register-no-ca"),
            "RegisterCertificateWithoutCA"
        );
        assert_eq!(
            rest_operation("PUT", "/certificates/abc"),
            "UpdateCertificate"
        );
        assert_eq!(
            rest_operation("PUT", "/things/w-1/principals"),
            "AttachThingPrincipal"
        );
        assert_eq!(rest_operation("GET", "/things/w-1"), "DescribeThing");
        assert_eq!(
            rest_operation("GET", "/principals/things-v2"),
            "ListPrincipalThingsV2"
        );
        assert_eq!(
            rest_operation("GET", "/things/w-1/principals-v2"),
            "ListThingPrincipalsV2"
        );
        assert_eq!(
            rest_operation("DELETE", "/policies/p/version/2"),
            "DeletePolicyVersion"
        );
        assert_eq!(rest_operation("GET", "/rules"), "ListTopicRules");
        assert_eq!(
            rest_operation("GET", "/rules/alerts_to_queue"),
            "GetTopicRule"
        );
        assert_eq!(
            rest_operation("GET", "/destinations"),
            "ListTopicRuleDestinations"
        );
        assert_eq!(rest_operation("GET", "/indices/search"), "GET /indices");
        assert_eq!(
            route53_operation("POST", "/2013-04-01/hostedzone/Z1/rrset/"),
            "ChangeResourceRecordSets"
        );
        assert_eq!(
            route53_operation("GET", "/2013-04-01/healthcheck/h1/status"),
            "GetHealthCheckStatus"
        );
    }

    #[test]
    fn the_scope_names_service_region_and_caller() {
        let r = request(
            "GET",
            "/certificates/ab%2Fc?pageSize=2",
            &[("authorization", AUTH_IOT)],
            "",
        );
        assert_eq!(
            (r.service.as_str(), r.region.as_str()),
            ("iot", "us-east-1")
        );
        assert_eq!(r.access_key, "sandbox:w:admin");
        assert_eq!(r.operation, "DescribeCertificate");
        assert_eq!(r.segments(), vec!["certificates", "ab/c"]);
        assert_eq!(r.param("pageSize"), Some("2"));

        let q = request(
            "POST",
            "/",
            &[
                (
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=K/20261203/us-west-2/monitoring/aws4_request",
                ),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            "Action=DescribeAlarms&AlarmNames.member.2=b&AlarmNames.member.1=a%20x",
        );
        assert_eq!(
            (q.protocol, q.operation.as_str()),
            (Protocol::Query, "DescribeAlarms")
        );
        assert_eq!(q.list_param("AlarmNames"), vec!["a x", "b"]);

        let unsigned = request("GET", "/moto-api/", &[], "");
        assert_eq!(
            (unsigned.service.as_str(), unsigned.region.as_str()),
            ("unknown", "unknown")
        );
    }
}
