//! The two sides of the topology: primary, which serves the fleet in normal operation,
//! and DR, which takes over when primary's region fails.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One of the two sides of the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// The account and region that serve the fleet in normal operation.
    Primary,
    /// The standby account and region that take over when primary fails.
    Dr,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Primary => Side::Dr,
            Side::Dr => Side::Primary,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`, so `{:<7}` aligns tables.
        f.pad(match self {
            Side::Primary => "primary",
            Side::Dr => "dr",
        })
    }
}
