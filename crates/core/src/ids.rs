//! Identifiers of the AWS world, parsed once at the boundary ("parse, don't validate").
//!
//! Each newtype can only hold a well-formed value, so code past the boundary never re-checks.
//! Errors say what was expected, because they end up in front of an operator editing a config.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid identifier of the given kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {kind}: {expected}")]
pub struct InvalidId {
    kind: &'static str,
    value: String,
    expected: &'static str,
}

impl InvalidId {
    fn new(kind: &'static str, value: &str, expected: &'static str) -> Self {
        // Cap what we echo back: a config value can be anything, including a pasted PEM.
        let value: String = value.chars().take(80).collect();
        Self {
            kind,
            value,
            expected,
        }
    }
}

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The identifier as AWS spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, InvalidId> {
                value.parse()
            }
        }
    };
}

string_newtype!(
    /// A 12-digit AWS account id, e.g. `111111111111`.
    AccountId
);

impl FromStr for AccountId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId::new(
                "account id",
                s,
                "expected exactly 12 digits, quoted as a string (e.g. \"111111111111\")",
            ))
        }
    }
}

string_newtype!(
    /// An AWS region code, e.g. `us-east-1`, `eu-central-2`, `us-gov-west-1`.
    Region
);

impl FromStr for Region {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        // Shape: <area>-<optional partition words>-<direction>-<number>; every part lowercase
        // letters except the trailing number. Checked by shape, not against a list, so new
        // regions work without a release.
        let parts: Vec<&str> = s.split('-').collect();
        let well_formed = parts.len() >= 3
            && parts[..parts.len() - 1]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
            && parts[0].len() == 2
            && parts[parts.len() - 1]
                .parse::<u8>()
                .is_ok_and(|n| (1..=20).contains(&n));
        if well_formed {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId::new(
                "region",
                s,
                "expected a region code such as \"us-east-1\" or \"eu-west-2\"",
            ))
        }
    }
}

string_newtype!(
    /// The ARN of an IAM role to assume, e.g. `arn:aws:iam::111111111111:role/dr-control-plane`.
    RoleArn
);

impl RoleArn {
    /// The account that owns the role.
    pub fn account_id(&self) -> AccountId {
        // Parsing guaranteed the fifth field is a valid account id.
        AccountId(self.0.split(':').nth(4).unwrap_or_default().to_owned())
    }

    /// The role's name (the last path segment).
    pub fn role_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
    }
}

impl FromStr for RoleArn {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        const EXPECTED: &str = "expected arn:<partition>:iam::<12-digit account>:role/<name>";
        let fields: Vec<&str> = s.splitn(6, ':').collect();
        let valid = fields.len() == 6
            && fields[0] == "arn"
            && matches!(fields[1], "aws" | "aws-cn" | "aws-us-gov")
            && fields[2] == "iam"
            && fields[3].is_empty()
            && fields[4].parse::<AccountId>().is_ok()
            && fields[5]
                .strip_prefix("role/")
                .and_then(|path| path.rsplit('/').next())
                .is_some_and(|name| {
                    (1..=64).contains(&name.len())
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
                });
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId::new("role ARN", s, EXPECTED))
        }
    }
}

string_newtype!(
    /// The name of one of our AWS resources (topic, queue, table, role…): 1–80 characters of
    /// letters, digits, `-` and `_`, the common subset every service we name accepts.
    ResourceName
);

impl FromStr for ResourceName {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        if (1..=80).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId::new(
                "resource name",
                s,
                "expected 1-80 characters of letters, digits, '-' and '_'",
            ))
        }
    }
}

string_newtype!(
    /// An endpoint override for the AWS SDK, restricted to loopback: the sandbox is the only
    /// reason to override endpoints, and this machine may never send traffic elsewhere.
    Endpoint
);

impl Endpoint {
    /// The TCP port the endpoint listens on.
    pub fn port(&self) -> u16 {
        // Parsing guaranteed an explicit, valid port.
        self.0
            .rsplit(':')
            .next()
            .and_then(|p| p.trim_end_matches('/').parse().ok())
            .unwrap_or(80)
    }

    /// The endpoint of a sandbox listening on `127.0.0.1:port`.
    pub fn loopback(port: u16) -> Self {
        Self(format!("http://127.0.0.1:{port}"))
    }
}

impl FromStr for Endpoint {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        const EXPECTED: &str =
            "expected http://127.0.0.1:<port>, http://localhost:<port> or http://[::1]:<port>";
        let Some(rest) = s.strip_prefix("http://") else {
            return Err(InvalidId::new("sandbox endpoint", s, EXPECTED));
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, port),
            None => return Err(InvalidId::new("sandbox endpoint", s, EXPECTED)),
        };
        let loopback_host = host == "localhost"
            || host == "[::1]"
            || host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback());
        let valid_port = port.parse::<u16>().is_ok_and(|p| p != 0);
        if loopback_host && valid_port {
            Ok(Self(format!("http://{rest}")))
        } else {
            Err(InvalidId::new("sandbox endpoint", s, EXPECTED))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!("111111111111".parse::<AccountId>().is_ok());
        for bad in [
            "11111111111",
            "1111111111111",
            "11111111111a",
            "",
            " 111111111111",
        ] {
            let err = bad.parse::<AccountId>().unwrap_err().to_string();
            assert!(err.contains("12 digits"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn regions_are_checked_by_shape() {
        for good in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-4",
        ] {
            assert!(good.parse::<Region>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "useast1",
            "us-east-0",
            "us--east-1",
            "usa-east-1",
        ] {
            assert!(bad.parse::<Region>().is_err(), "{bad}");
        }
    }

    #[test]
    fn role_arns_expose_their_account_and_name() {
        let arn: RoleArn = "arn:aws:iam::222222222222:role/ops/dr-control-plane"
            .parse()
            .unwrap();
        assert_eq!(arn.account_id().as_str(), "222222222222");
        assert_eq!(arn.role_name(), "dr-control-plane");
        for bad in [
            "arn:aws:iam::2222:role/x",
            "arn:aws:iam::222222222222:user/x",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::222222222222:role/",
        ] {
            assert!(bad.parse::<RoleArn>().is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoints_are_loopback_only() {
        let ep: Endpoint = "http://127.0.0.1:5757/".parse().unwrap();
        assert_eq!(ep.as_str(), "http://127.0.0.1:5757");
        assert_eq!(ep.port(), 5757);
        assert!("http://localhost:4566".parse::<Endpoint>().is_ok());
        for bad in [
            "http://10.0.0.1:5000",
            "https://127.0.0.1:5000",
            "http://127.0.0.1",
            "http://example.com:80",
            "http://127.0.0.1:0",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
    }

    #[test]
    fn resource_names_reject_what_some_service_would_refuse() {
        assert!("dr-cert_replication-1".parse::<ResourceName>().is_ok());
        for bad in ["", "has space", "dot.name", &"x".repeat(81)] {
            assert!(bad.parse::<ResourceName>().is_err(), "{bad}");
        }
    }
}

string_newtype!(
    /// A DNS name in canonical form: lowercase, no trailing dot (e.g. `iot.example.com`).
    DomainName
);

impl DomainName {
    /// Whether `self` is `zone` or lies below it.
    pub fn is_within(&self, zone: &DomainName) -> bool {
        self == zone || self.0.ends_with(&format!(".{}", zone.0))
    }
}

impl FromStr for DomainName {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        let name = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
        let valid = (1..=253).contains(&name.len())
            && name.split('.').count() >= 2
            && name.split('.').all(|label| {
                (1..=63).contains(&label.len())
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if valid {
            Ok(Self(name))
        } else {
            Err(InvalidId::new(
                "DNS name",
                s,
                "expected a name such as \"iot.example.com\" (letters, digits, '-', dots)",
            ))
        }
    }
}

#[cfg(test)]
mod domain_tests {
    use super::*;

    #[test]
    fn domain_names_are_canonical_and_nest() {
        let zone: DomainName = "Example.COM.".parse().unwrap();
        assert_eq!(zone.as_str(), "example.com");
        let record: DomainName = "iot.example.com".parse().unwrap();
        assert!(record.is_within(&zone));
        let other: DomainName = "iot.badexample.com".parse().unwrap();
        assert!(!other.is_within(&zone));
        for bad in [
            "",
            "com",
            "-x.example.com",
            "a..b",
            "under_score.example.com",
        ] {
            assert!(bad.parse::<DomainName>().is_err(), "{bad}");
        }
    }
}

/// The names AWS IoT gives things, thing groups and named shadows: 1 to `max` of letters,
/// digits, `:`, `_` and `-`.
pub fn is_iot_name(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":_-".contains(&b))
}

string_newtype!(
    /// An AWS IoT thing name: 1–128 of letters, digits, `:`, `_` and `-`.
    ThingName
);

impl FromStr for ThingName {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        if is_iot_name(s, 128) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId::new(
                "thing name",
                s,
                "expected 1-128 characters of letters, digits, ':', '_' and '-'",
            ))
        }
    }
}

string_newtype!(
    /// An AWS IoT thing group name: 1–128 of letters, digits, `:`, `_` and `-`.
    ThingGroupName
);

impl FromStr for ThingGroupName {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        if is_iot_name(s, 128) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId::new(
                "thing group name",
                s,
                "expected 1-128 characters of letters, digits, ':', '_' and '-'",
            ))
        }
    }
}

impl ThingGroupName {
    /// The name in a thing group ARN (`arn:aws:iot:<region>:<account>:thinggroup/<name>`).
    pub fn from_arn(arn: &str) -> Option<Self> {
        let (prefix, name) = arn.rsplit_once(":thinggroup/")?;
        prefix.starts_with("arn:").then_some(())?;
        name.parse().ok()
    }
}

string_newtype!(
    /// An AWS IoT role alias: 1–128 of letters, digits and `=,@-_`.
    RoleAliasName
);

impl FromStr for RoleAliasName {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        if (1..=128).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"=,@-_".contains(&b))
        {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId::new(
                "role alias",
                s,
                "expected 1-128 characters of letters, digits and '=,@-_'",
            ))
        }
    }
}

string_newtype!(
    /// An AWS IoT provisioning template name: 1–36 of letters, digits, `-` and `_`.
    TemplateName
);

impl FromStr for TemplateName {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        if (1..=36).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId::new(
                "provisioning template",
                s,
                "expected 1-36 characters of letters, digits, '-' and '_'",
            ))
        }
    }
}

string_newtype!(
    /// An AWS IoT policy name: 1–128 of letters, digits and `+=,.@-_`.
    PolicyName
);

impl FromStr for PolicyName {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        if (1..=128).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@-_".contains(&b))
        {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId::new(
                "policy name",
                s,
                "expected 1-128 characters of letters, digits and '+=,.@-_'",
            ))
        }
    }
}
