//! How drctl prints a use case's report: the one renderer for people (a table) and for
//! machines (`--output json`), both from the report's own list of figures.

use clap::ValueEnum;
use dr_core::report::{json, table, Report};

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// A table for people.
    Table,
    /// JSON for machines.
    Json,
}

/// Print `report` to stdout as `output` says.
pub(crate) fn print(report: &impl Report, output: Output) {
    match output {
        Output::Table => print!("{}", table::render(report)),
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json::render(report)).unwrap_or_default()
        ),
    }
}
