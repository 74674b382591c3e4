//! Just enough of EC2's Query protocol for the sandbox's stand-in network: a form-encoded
//! `POST Action=…&Version=2016-11-15`, signed with SigV4, and the one or two elements of
//! the XML answer the provisioner reads.
//!
//! The SDK's EC2 crate is by far the largest in the dependency tree (1.24 million lines of
//! generated Rust, three times `aws-sdk-iot`), compiled on every cold build for the six
//! operations provisioning calls, all on the sandbox. What this client needs is already
//! in the tree through the other SDK crates: the signer (`aws-sigv4`), the XML reader
//! (`aws-smithy-xml`), form encoding (`form_urlencoded`) and hyper. It takes what the
//! SDK's client would from the [`SdkConfig`]: the endpoint, the region, the credentials
//! (assumed through STS, so moto files everything in the role's account) and the retry
//! and timeout bounds.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_sdk_iam::error::DisplayErrorContext;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_xml::decode::{try_data, Document, ScopedDecoder, XmlDecodeError};
use aws_types::SdkConfig;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The API version every EC2 Query request names.
const VERSION: &str = "2016-11-15";

/// A call to EC2 failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Ec2Error {
    /// The configuration cannot reach the sandbox's EC2.
    #[error("cannot call EC2: {0}")]
    Setup(String),
    /// The configuration's credentials could not be had (the AssumeRole call failed).
    #[error("no credentials for EC2: {0}")]
    Credentials(String),
    /// No answer: the connection failed, or the attempt outlived its timeout.
    #[error("no answer from EC2 at {endpoint}: {message}")]
    Transport {
        /// `host:port` called.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
    /// EC2 answered with an error.
    #[error("{code}: {message} (HTTP {status})")]
    Service {
        /// The HTTP status.
        status: u16,
        /// The error code (`InvalidSubnet.Conflict`…).
        code: String,
        /// The error message.
        message: String,
    },
    /// The answer is not the XML it should be.
    #[error("unreadable EC2 answer: {0}")]
    Answer(String),
}

impl Ec2Error {
    /// The error code EC2 answered with, if it answered.
    pub(crate) fn code(&self) -> Option<&str> {
        match self {
            Self::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether another attempt may succeed: what the SDK's standard retry mode retries.
    fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Service { status, code, .. } => {
                *status >= 500
                    || *status == 429
                    || matches!(
                        code.as_str(),
                        "RequestLimitExceeded" | "Throttling" | "ThrottlingException"
                    )
            }
            Self::Setup(_) | Self::Credentials(_) | Self::Answer(_) => false,
        }
    }
}

impl From<XmlDecodeError> for Ec2Error {
    fn from(e: XmlDecodeError) -> Self {
        Self::Answer(e.to_string())
    }
}

/// An EC2 client of one account in one region, on the sandbox's endpoint.
#[derive(Debug)]
pub(crate) struct Ec2 {
    /// `host:port` of the (plain HTTP) endpoint.
    authority: String,
    region: String,
    /// Resolved once: one provisioning lasts seconds, assumed credentials an hour.
    credentials: Credentials,
    max_attempts: u32,
    attempt_timeout: Duration,
    /// All attempts of one call, with their waits.
    operation_timeout: Duration,
}

impl Ec2 {
    /// A client signing with `config`'s credentials, in its region, at its endpoint.
    pub(crate) async fn new(config: &SdkConfig) -> Result<Self, Ec2Error> {
        let setup = |what: &str| Ec2Error::Setup(what.to_owned());
        let endpoint = config
            .endpoint_url()
            .ok_or_else(|| setup("no endpoint URL: this client speaks only to the sandbox"))?;
        let authority = endpoint
            .strip_prefix("http://")
            .map(|rest| rest.trim_end_matches('/'))
            .filter(|authority| !authority.is_empty() && !authority.contains('/'))
            .ok_or_else(|| {
                Ec2Error::Setup(format!(
                    "{endpoint} is not a sandbox endpoint (http://host:port)"
                ))
            })?
            .to_owned();
        let region = config
            .region()
            .ok_or_else(|| setup("no region in the configuration"))?
            .to_string();
        let credentials = config
            .credentials_provider()
            .ok_or_else(|| setup("no credentials provider in the configuration"))?
            .provide_credentials()
            .await
            .map_err(|e| Ec2Error::Credentials(DisplayErrorContext(e).to_string()))?;
        Ok(Self {
            authority,
            region,
            credentials,
            max_attempts: config.retry_config().map_or(3, |r| r.max_attempts()),
            attempt_timeout: config
                .timeout_config()
                .and_then(|t| t.operation_attempt_timeout())
                .unwrap_or(Duration::from_secs(30)),
            operation_timeout: config
                .timeout_config()
                .and_then(|t| t.operation_timeout())
                .unwrap_or(Duration::from_secs(120)),
        })
    }

    /// Call `action` with `params` (already in the protocol's flattened form, e.g.
    /// `Filter.1.Name`), retrying what the SDK would retry, within the operation timeout.
    pub(crate) async fn call(
        &self,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<Answer, Ec2Error> {
        let body = form(action, params);
        tokio::time::timeout(self.operation_timeout, self.attempts(action, &body))
            .await
            .unwrap_or_else(|_| {
                Err(self.transport(format!(
                    "{action} unanswered within {:?}",
                    self.operation_timeout
                )))
            })
    }

    async fn attempts(&self, action: &str, body: &str) -> Result<Answer, Ec2Error> {
        let mut attempt = 1;
        loop {
            let answer = tokio::time::timeout(self.attempt_timeout, self.attempt(body))
                .await
                .unwrap_or_else(|_| {
                    Err(self.transport(format!("no answer within {:?}", self.attempt_timeout)))
                });
            match answer {
                Err(e) if e.is_transient() && attempt < self.max_attempts => {
                    tracing::debug!(action, attempt, error = %e, "retrying an EC2 call");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                answer => return answer,
            }
        }
    }

    async fn attempt(&self, body: &str) -> Result<Answer, Ec2Error> {
        let mut request = Request::post(format!("http://{}/", self.authority))
            .header("host", &self.authority)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
            .map_err(|e| Ec2Error::Setup(e.to_string()))?;
        self.sign(&mut request, body.as_bytes())?;
        let stream = TcpStream::connect(&self.authority)
            .await
            .map_err(|e| self.transport(e))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.transport(e))?;
        tokio::spawn(connection);
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| self.transport(e))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| self.transport(e))?
            .to_bytes();
        let xml = String::from_utf8(body.to_vec())
            .map_err(|_| Ec2Error::Answer(format!("HTTP {status}: not UTF-8")))?;
        if status.is_success() {
            Ok(Answer(xml))
        } else {
            Err(service_error(status, &xml))
        }
    }

    /// Add SigV4's headers (`authorization`, `x-amz-date`, `x-amz-security-token`).
    fn sign(&self, request: &mut Request<Full<Bytes>>, body: &[u8]) -> Result<(), Ec2Error> {
        let signing = |e: &dyn std::fmt::Display| Ec2Error::Setup(format!("signing: {e}"));
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("ec2")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| signing(&e))?
            .into();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let signable = SignableRequest::new(
            request.method().as_str(),
            request.uri().to_string(),
            headers,
            SignableBody::Bytes(body),
        )
        .map_err(|e| signing(&e))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| signing(&e))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }

    fn transport(&self, error: impl std::fmt::Display) -> Ec2Error {
        Ec2Error::Transport {
            endpoint: self.authority.clone(),
            message: error.to_string(),
        }
    }
}

/// The form body of one call.
fn form(action: &str, params: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", action)
        .append_pair("Version", VERSION)
        .extend_pairs(params)
        .finish()
}

/// The standard retry mode's wait before attempt `attempt + 1`: exponential from 100 ms,
/// capped at 20 s (without its jitter: the sandbox has one client per account here).
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64 << attempt.saturating_sub(1).min(8)).min(Duration::from_secs(20))
}

/// EC2's error document: `<Response><Errors><Error><Code>…</Code><Message>…`.
fn service_error(status: StatusCode, xml: &str) -> Ec2Error {
    let answer = Answer(xml.to_owned());
    let field = |name: &str| {
        answer
            .first(&["Errors", "Error", name])
            .ok()
            .flatten()
            .unwrap_or_default()
    };
    let code = field("Code");
    Ec2Error::Service {
        status: status.as_u16(),
        code: if code.is_empty() {
            status.canonical_reason().unwrap_or("Unknown").to_owned()
        } else {
            code
        },
        message: field("Message"),
    }
}

/// A successful answer's XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer(String);

impl Answer {
    /// The text of the first element at `path` below the root, taking the first child of
    /// each name on the way (`["vpcSet", "item", "vpcId"]`: the first VPC's id, as the
    /// SDK's `vpcs().first().vpc_id()`); `None` when the path ends early (an empty set).
    pub(crate) fn first(&self, path: &[&str]) -> Result<Option<String>, Ec2Error> {
        let mut document = Document::new(&self.0);
        let mut root = document.root_element()?;
        Ok(descend(&mut root, path)?)
    }

    /// The same, for an element every such answer has.
    pub(crate) fn require(&self, path: &[&str]) -> Result<String, Ec2Error> {
        self.first(path)?
            .filter(|text| !text.is_empty())
            .ok_or_else(|| Ec2Error::Answer(format!("no {} in the answer", path.join("/"))))
    }
}

fn descend(
    scope: &mut ScopedDecoder<'_, '_>,
    path: &[&str],
) -> Result<Option<String>, XmlDecodeError> {
    let Some((name, rest)) = path.split_first() else {
        return Ok(Some(try_data(scope)?.trim().to_owned()));
    };
    while let Some(mut child) = scope.next_tag() {
        if child.start_el().local() == *name {
            return descend(&mut child, rest);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use hyper::body::Incoming;
    use hyper::Response;
    use tokio::net::TcpListener;

    use super::*;

    const DESCRIBE_SECURITY_GROUPS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
  <securityGroupInfo>
    <item>
      <ownerId>222222222222</ownerId>
      <groupId>sg-1a2b3c4d</groupId>
      <groupName>iot-dr-fleet-db</groupName>
      <groupDescription>restored &amp; reachable</groupDescription>
      <vpcId>vpc-1a2b3c4d</vpcId>
      <ipPermissions>
        <item>
          <ipProtocol>tcp</ipProtocol>
          <groups><item><userId>222222222222</userId><groupId>sg-99999999</groupId></item></groups>
        </item>
      </ipPermissions>
    </item>
    <item><ownerId>222222222222</ownerId><groupId>sg-5e6f7a8b</groupId></item>
  </securityGroupInfo>
</DescribeSecurityGroupsResponse>"#;

    #[test]
    fn the_first_item_s_own_element_is_read_not_a_nested_one() {
        // Given an answer whose first group refers to another group inside it
        let answer = Answer(DESCRIBE_SECURITY_GROUPS.to_owned());
        // When reading the first group's id and description
        let id = answer.first(&["securityGroupInfo", "item", "groupId"]);
        let description = answer.require(&["securityGroupInfo", "item", "groupDescription"]);
        // Then they are its own, unescaped
        assert_eq!(id.unwrap().as_deref(), Some("sg-1a2b3c4d"));
        assert_eq!(description.unwrap(), "restored & reachable");
    }

    #[test]
    fn moto_s_answer_is_read_whatever_the_order_of_its_elements() {
        // Given moto 5.2.5's answer (its elements in its own order, the id after a nested
        // item of another set)
        let answer = Answer(
            r#"<?xml version="1.0" encoding="utf-8"?>
<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15"><vpcSet><item><ownerId>222222222222</ownerId><instanceTenancy>default</instanceTenancy><ipv6CidrBlockAssociationSet/><cidrBlockAssociationSet><item><associationId>vpc-cidr-assoc-64c64f83bc74331a3</associationId><cidrBlock>10.42.0.0/16</cidrBlock><cidrBlockState><state>associated</state></cidrBlockState></item></cidrBlockAssociationSet><isDefault>false</isDefault><tagSet><item><key>Name</key><value>iot-dr-app</value></item></tagSet><vpcId>vpc-3b461d1e96f9e6c40</vpcId><state>available</state><cidrBlock>10.42.0.0/16</cidrBlock><dhcpOptionsId>default</dhcpOptionsId></item></vpcSet><requestId>request-id</requestId></DescribeVpcsResponse>"#
                .to_owned(),
        );
        // Then the VPC's id is found
        assert_eq!(
            answer.require(&["vpcSet", "item", "vpcId"]).unwrap(),
            "vpc-3b461d1e96f9e6c40"
        );
    }

    #[test]
    fn an_empty_set_is_none_and_a_missing_required_element_an_error() {
        let answer = Answer(
            r#"<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
                 <requestId>r</requestId><vpcSet/></DescribeVpcsResponse>"#
                .to_owned(),
        );
        assert_eq!(answer.first(&["vpcSet", "item", "vpcId"]).unwrap(), None);
        let error = answer.require(&["vpc", "vpcId"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unreadable EC2 answer: no vpc/vpcId in the answer"
        );
    }

    #[test]
    fn an_error_document_gives_its_code_and_message() {
        // (moto 5.2.5's answer to a second subnet of one CIDR)
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15"><Errors><Error><Code>InvalidSubnet.Conflict</Code><Message>The CIDR '10.42.1.0/24' conflicts with another subnet</Message></Error></Errors><RequestID>request-id</RequestID></Response>"#;
        let error = service_error(StatusCode::BAD_REQUEST, xml);
        assert_eq!(error.code(), Some("InvalidSubnet.Conflict"));
        assert!(!error.is_transient());
        assert_eq!(
            error.to_string(),
            "InvalidSubnet.Conflict: The CIDR '10.42.1.0/24' conflicts with another subnet (HTTP 400)"
        );
        // A 503 without a document is still an error with a code, and worth another try.
        let unavailable = service_error(StatusCode::SERVICE_UNAVAILABLE, "");
        assert_eq!(unavailable.code(), Some("Service Unavailable"));
        assert!(unavailable.is_transient());
    }

    #[test]
    fn parameters_are_form_encoded_after_the_action_and_version() {
        let body = form(
            "CreateSecurityGroup",
            &[
                ("GroupName", "iot-dr-fleet-db"),
                ("GroupDescription", "a: b's VPC"),
            ],
        );
        assert_eq!(
            body,
            "Action=CreateSecurityGroup&Version=2016-11-15&GroupName=iot-dr-fleet-db\
             &GroupDescription=a%3A+b%27s+VPC"
        );
    }

    /// What the stub server saw of one request.
    #[derive(Debug, Clone)]
    struct Seen {
        authorization: String,
        token: String,
        content_type: String,
        body: String,
    }

    /// A server giving `answers` in turn (the last one again after that), recording every
    /// request it is sent.
    async fn stub(answers: Vec<(StatusCode, &'static str)>) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, answers) = (Arc::clone(&log), answers.clone());
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let (log, answers) = (Arc::clone(&log), answers.clone());
                    async move {
                        let header =
                            |name: &str| request.headers()[name].to_str().unwrap().to_owned();
                        let mut seen = Seen {
                            authorization: header("authorization"),
                            token: header("x-amz-security-token"),
                            content_type: header("content-type"),
                            body: String::new(),
                        };
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        seen.body = String::from_utf8(body.to_vec()).unwrap();
                        let turn = {
                            let mut log = log.lock().unwrap();
                            log.push(seen);
                            log.len()
                        };
                        let (status, body) = answers[turn.min(answers.len()) - 1];
                        let mut response =
                            Response::new(Full::new(Bytes::from_static(body.as_bytes())));
                        *response.status_mut() = status;
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        (authority, seen)
    }

    fn client(authority: String) -> Ec2 {
        Ec2 {
            authority,
            region: "us-west-2".to_owned(),
            credentials: Credentials::new(
                "ASIADR",
                "secret",
                Some("token".to_owned()),
                None,
                "test",
            ),
            max_attempts: 3,
            attempt_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn a_call_is_signed_for_ec2_in_its_region_and_retried_through_a_503() {
        // Given EC2 that fails once, then answers
        let (authority, seen) = stub(vec![
            (StatusCode::SERVICE_UNAVAILABLE, ""),
            (
                StatusCode::OK,
                "<CreateVpcResponse><vpc><vpcId>vpc-42</vpcId></vpc></CreateVpcResponse>",
            ),
        ])
        .await;
        // When a VPC is created
        let answer = client(authority)
            .call("CreateVpc", &[("CidrBlock", "10.42.0.0/16")])
            .await
            .unwrap();
        // Then the second attempt's answer is read
        assert_eq!(answer.require(&["vpc", "vpcId"]).unwrap(), "vpc-42");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        // And each attempt is a form signed by the account's key for ec2 in us-west-2
        for request in seen {
            assert_eq!(
                request.body,
                "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.42.0.0%2F16"
            );
            assert_eq!(request.content_type, "application/x-www-form-urlencoded");
            let authorization = &request.authorization;
            assert!(
                authorization.starts_with("AWS4-HMAC-SHA256 Credential=ASIADR/"),
                "{authorization}"
            );
            assert!(
                authorization.contains("/us-west-2/ec2/aws4_request"),
                "{authorization}"
            );
            assert!(
                authorization
                    .contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"),
                "{authorization}"
            );
            assert_eq!(request.token, "token");
        }
    }

    #[tokio::test]
    async fn an_error_ec2_gives_is_returned_at_once_with_its_code() {
        // Given EC2 that refuses the subnet as a conflict
        let (authority, seen) = stub(vec![(
            StatusCode::BAD_REQUEST,
            "<Response><Errors><Error><Code>InvalidSubnet.Conflict</Code>\
             <Message>conflicts</Message></Error></Errors></Response>",
        )])
        .await;
        // When a subnet is created
        let error = client(authority)
            .call("CreateSubnet", &[("CidrBlock", "10.42.1.0/24")])
            .await
            .unwrap_err();
        // Then the caller sees the code after one attempt: it is not EC2 failing
        assert_eq!(error.code(), Some("InvalidSubnet.Conflict"));
        assert_eq!(seen.lock().unwrap().len(), 1);
    }
}
