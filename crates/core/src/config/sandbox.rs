//! `[sandbox]`, present only against the local sandbox (moto server), and the sandbox's
//! model of who holds a process's ambient credentials.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::FUNCTIONS;
use crate::ids::Endpoint;

/// Present only when running against the local sandbox (moto server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// Where the sandbox listens; every SDK client is pointed at it.
    pub endpoint: Endpoint,
    /// The IAM world this process acts in: provisioning registers the roles the CDK app
    /// creates for this topology under this name (each test has a world of its own, so
    /// tests whose topologies differ do not share a role's policy).
    #[serde(default = "default_world")]
    pub world: SandboxWorld,
    /// Whose ambient credentials this process holds (what Lambda, or an operator's SSO
    /// session, would give it in AWS): `operator` (drctl), `admin` (provisioning and the
    /// test harness: not evaluated), or `function:<name>` (that Lambda's execution role).
    #[serde(default)]
    pub principal: SandboxPrincipal,
}

impl SandboxConfig {
    /// The sandbox's ambient access key: it names the world and the principal, which the
    /// sandbox's IAM looks up (`sandbox:<world>:<principal>`).
    pub fn access_key_id(&self) -> String {
        format!("sandbox:{}:{}", self.world, self.principal)
    }
}

fn default_world() -> SandboxWorld {
    SandboxWorld("default".to_owned())
}

/// The name of a sandbox IAM world: 1 to 64 of `a-z`, `0-9`, `-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SandboxWorld(String);

impl SandboxWorld {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SandboxWorld {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let valid = !value.is_empty()
            && value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(Self(value))
        } else {
            Err(format!(
                "{value:?} is not a sandbox world name: 1 to 64 of a-z, 0-9 and -"
            ))
        }
    }
}

impl std::str::FromStr for SandboxWorld {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

impl From<SandboxWorld> for String {
    fn from(value: SandboxWorld) -> Self {
        value.0
    }
}

impl fmt::Display for SandboxWorld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who holds a sandbox process's ambient credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SandboxPrincipal {
    /// The operators' principal (`-c operatorPrincipal`), which may assume the topology's
    /// `role_arn`s, as drctl does.
    #[default]
    Operator,
    /// The account's administrator: provisioning (what CloudFormation does in AWS) and the
    /// test harness (what AWS itself does: the event source mapping, CloudTrail…).
    Admin,
    /// A Lambda's execution role, which may assume only that function's side roles.
    Function(String),
}

impl TryFrom<String> for SandboxPrincipal {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "operator" => Ok(Self::Operator),
            "admin" => Ok(Self::Admin),
            other => match other.strip_prefix("function:") {
                Some(name) if FUNCTIONS.contains(&name) => Ok(Self::Function(name.to_owned())),
                _ => Err(format!(
                    "{value:?} is not a sandbox principal: operator, admin, or function:<name> \
                     with a name of {}",
                    FUNCTIONS.join(", ")
                )),
            },
        }
    }
}

impl std::str::FromStr for SandboxPrincipal {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

impl From<SandboxPrincipal> for String {
    fn from(value: SandboxPrincipal) -> Self {
        value.to_string()
    }
}

impl fmt::Display for SandboxPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Operator => f.write_str("operator"),
            Self::Admin => f.write_str("admin"),
            Self::Function(name) => write!(f, "function:{name}"),
        }
    }
}
