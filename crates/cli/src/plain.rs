//! Failures in words: one line naming the side, region and service and what went wrong
//! ("dr us-west-2 STS: role … does not exist or does not trust this caller", "primary
//! us-east-1 IoT: no answer within 5 s"), never the SDK's chain of Debug output, which only
//! `--verbose` shows.

use std::fmt;

use dr_core::port::{NoAnswer, PortError};
use dr_core::{CallTimeouts, Side, Topology};

/// Where a read went: the words that begin its failure.
#[derive(Debug, Clone, Copy)]
pub(crate) enum From<'a> {
    /// A regional service of one side.
    Side(Side, &'a str, &'static str),
    /// Route 53's global control plane.
    Route53,
}

impl From<'_> {
    /// `service` of `side` in `topology`.
    pub(crate) fn at<'t>(topology: &'t Topology, side: Side, service: &'static str) -> From<'t> {
        From::Side(side, topology.side(side).region.as_str(), service)
    }
}

impl fmt::Display for From<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Side(side, region, service) => write!(f, "{side} {region} {service}"),
            Self::Route53 => f.write_str("Route 53 (global control plane)"),
        }
    }
}

/// `error` in one line: where it happened and the cause in words.
pub(crate) fn one_line(
    from: From<'_>,
    topology: &Topology,
    timeouts: &CallTimeouts,
    error: &anyhow::Error,
) -> String {
    let Some(port) = error.chain().find_map(|e| e.downcast_ref::<PortError>()) else {
        return format!("{from}: {}", first_line(&format!("{error:#}")));
    };
    format!("{from}: {}", cause(from, topology, timeouts, port))
}

/// What went wrong with a call, in words.
pub(crate) fn cause(
    from: From<'_>,
    topology: &Topology,
    timeouts: &CallTimeouts,
    port: &PortError,
) -> String {
    match port.no_answer {
        Some(NoAnswer::TimedOut) => {
            format!("no answer within {} s", timeouts.operation.as_secs_f64())
        }
        Some(NoAnswer::Unreachable) => first_line(&port.message),
        None if port.role_refused() => match from {
            From::Side(side, ..) => format!(
                "role {} does not exist or does not trust this caller",
                topology.side(side).role_arn
            ),
            From::Route53 => "its role does not exist or does not trust this caller".to_owned(),
        },
        None if port.access_denied() => {
            // "User: … is not authorized to perform: X on resource: Y because …"
            let what = port
                .message
                .split("perform: ")
                .nth(1)
                .map(|rest| rest.split(" because").next().unwrap_or(rest))
                .unwrap_or(&port.message);
            format!("access denied: {}", first_line(what))
        }
        None => format!("{}: {}", port.operation, first_line(&port.message)),
    }
}

/// The first line of `text`, at most 200 characters.
pub(crate) fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > 200 {
        format!("{}…", line.chars().take(200).collect::<String>())
    } else {
        line.to_owned()
    }
}
