//! `drctl failover | hold | release | failback`: the operator's hands on flow D. Every
//! command goes through the same fenced controller as the health checker, so an operator
//! and the checker acting at the same moment never both move traffic.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use clap::Args;
use dr_aws::failover::FailoverPorts;
use dr_aws::AwsSession;
use dr_core::failover::{DatabaseChoice, FailoverError, FailoverRecord, Outcome, Refused};
use dr_core::time::now_millis;
use dr_core::Topology;

#[derive(Debug, Args)]
pub(crate) struct FailoverArgs {
    /// Why (goes into the notification and the audit record).
    #[arg(long, default_value = "operator decision")]
    reason: String,
    /// Continue the runbook in progress from the step it stopped at (one that failed, or
    /// that the health checker has not reached), instead of starting one.
    #[arg(long)]
    resume: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
}

#[derive(Debug, Args)]
pub(crate) struct HoldArgs {
    /// Why automatic failover is held (shown to whoever looks at the state).
    #[arg(long)]
    reason: String,
    /// Lapse by itself after this long (`90m`, `2h`, `1d`, or seconds): a maintenance
    /// window that nobody has to remember to release.
    #[arg(long = "for", value_parser = parse_duration)]
    for_: Option<std::time::Duration>,
}

/// `90m`, `2h`, `1d`, `30s` or a number of seconds.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, "s"), |at| text.split_at(at));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a number and a unit, e.g. 90m or 2h"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3_600,
        "d" => n * 86_400,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?}; use s, m, h or d"
            ))
        }
    };
    if seconds == 0 {
        return Err("a hold must last longer than 0 s".to_owned());
    }
    Ok(std::time::Duration::from_secs(seconds))
}

#[derive(Debug, Args)]
pub(crate) struct FailbackArgs {
    /// Carry the writes DR's restored database(s) took back: after the flip, a final
    /// snapshot of each is copied into primary's account and region as
    /// `<identifier>-dr-writes-<ms>`, for you to merge or restore there.
    #[arg(long, conflicts_with = "discard_dr_database_writes")]
    carry_back_dr_database: bool,
    /// Drop the writes DR's restored database(s) took, on record (needs `--reason`).
    #[arg(long, requires = "reason")]
    discard_dr_database_writes: bool,
    /// Why DR's database writes are discarded (goes into the audit record).
    #[arg(long, requires = "discard_dr_database_writes")]
    reason: Option<String>,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
}

impl FailbackArgs {
    fn choice(&self) -> Option<DatabaseChoice> {
        if self.carry_back_dr_database {
            Some(DatabaseChoice::CarryBack)
        } else if self.discard_dr_database_writes {
            Some(DatabaseChoice::Discard {
                reason: self.reason.clone().unwrap_or_default(),
            })
        } else {
            None
        }
    }
}

/// Who is acting, for notifications and the audit trail: the caller STS authenticated
/// (the ambient credentials' ARN), never a name the shell supplies. Without it nothing is
/// done: an audit record that cannot say who acted is not one.
async fn operator(session: &AwsSession) -> anyhow::Result<String> {
    session.caller_arn().await.context(
        "cannot tell who is acting (STS GetCallerIdentity in DR): nothing done; check the credentials drctl runs with",
    )
}

pub(crate) async fn failover(args: FailoverArgs, topology: &Topology) -> anyhow::Result<()> {
    if args.resume {
        return resume(topology).await;
    }
    confirm(
        args.yes,
        &format!(
            "This moves the whole fleet's traffic to DR ({}) now and starts restoring the database there.",
            topology.dr.region
        ),
        topology.dr.region.as_str(),
    )?;
    let session = AwsSession::connect(topology, "drctl").await;
    let ports = FailoverPorts::new(&session, topology);
    let outcome = ports
        .controller()
        .force_failover(&operator(&session).await?, &args.reason, now_millis())
        .await?;
    report(&outcome);
    Ok(())
}

/// `drctl failover --resume`: run the pending runbook's remaining steps now, each as the
/// health checker would (fenced), and say where it stopped if a step fails again.
async fn resume(topology: &Topology) -> anyhow::Result<()> {
    let session = AwsSession::connect(topology, "drctl").await;
    let ports = FailoverPorts::new(&session, topology);
    let controller = ports.controller();
    let pending = controller.current(now_millis()).await?.record.runbook;
    let Some(pending) = pending else {
        anyhow::bail!("no runbook in progress: nothing to resume");
    };
    println!(
        "resuming runbook {} ({:?}, by {}): done so far {:?}",
        pending.id, pending.kind, pending.by, pending.done
    );
    let outcome = controller.resume(now_millis()).await?;
    report(&outcome);
    Ok(())
}

pub(crate) async fn failback(args: FailbackArgs, topology: &Topology) -> anyhow::Result<()> {
    confirm(
        args.yes,
        "This moves the fleet's traffic back to primary now.",
        topology.primary.region.as_str(),
    )?;
    let session = AwsSession::connect(topology, "drctl").await;
    let ports = FailoverPorts::new(&session, topology);
    // Run again, it continues the failback in progress (the carry-back waits on RDS across
    // invocations); the choice recorded when it began stands.
    let outcome = match ports
        .controller()
        .failback(&operator(&session).await?, args.choice(), now_millis())
        .await
    {
        // The list is the point of this refusal: shown whole (errors print one line).
        Err(FailoverError::Refused(Refused::DatabaseChoiceNeeded {
            failover_runbook,
            restored,
        })) => {
            eprintln!("failover {failover_runbook} restored these databases in DR; the application wrote to them while DR served:");
            for database in &restored {
                eprintln!("  {database}");
            }
            eprintln!("Choose what becomes of those writes, on record:");
            eprintln!("  drctl failback --carry-back-dr-database      a final snapshot of each, taken after the flip, copied into primary's account and region as <identifier>-dr-writes-<ms>, for you to merge or restore there");
            eprintln!("  drctl failback --discard-dr-database-writes --reason \"…\"");
            eprintln!("Either way each is then retired: deleted with a final snapshot kept (one under deletion protection is left for you).");
            anyhow::bail!(
                "failback refused until you choose --carry-back-dr-database or --discard-dr-database-writes: nothing done"
            );
        }
        other => other?,
    };
    report(&outcome);
    Ok(())
}

pub(crate) async fn hold(args: HoldArgs, topology: &Topology) -> anyhow::Result<()> {
    let session = AwsSession::connect(topology, "drctl").await;
    let ports = FailoverPorts::new(&session, topology);
    let now = now_millis();
    let until = args.for_.map(|d| now + d.as_millis() as i64);
    let record = ports
        .controller()
        .hold(&operator(&session).await?, &args.reason, until, now)
        .await?;
    match args.for_ {
        Some(d) => println!(
            "automatic failover HELD for {} min: {}",
            d.as_secs() / 60,
            args.reason
        ),
        None => println!(
            "automatic failover HELD until `drctl release`: {}",
            args.reason
        ),
    }
    print_state(&record);
    Ok(())
}

pub(crate) async fn release(topology: &Topology) -> anyhow::Result<()> {
    let session = AwsSession::connect(topology, "drctl").await;
    let ports = FailoverPorts::new(&session, topology);
    let record = ports.controller().release(now_millis()).await?;
    println!("automatic failover armed");
    print_state(&record);
    Ok(())
}

/// Ask for the region's name to be typed, unless `--yes`. Without a terminal to ask on,
/// refuse: a script must say `--yes` explicitly.
fn confirm(yes: bool, what: &str, region: &str) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "{what} Refusing without confirmation: pass --yes when running from a script."
    );
    eprint!("{what}\nType the region name ({region}) to go ahead: ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("reading the confirmation")?;
    anyhow::ensure!(answer.trim() == region, "not confirmed; nothing done");
    Ok(())
}

fn report(outcome: &Outcome) {
    for step in &outcome.steps {
        println!("step done  {step:?}");
    }
    if let Some(runbook) = &outcome.finished {
        println!("runbook {} finished", runbook.id);
        for note in &runbook.notes {
            println!("  {note}");
        }
        if runbook.notes_omitted > 0 {
            println!("  ({} more notes omitted)", runbook.notes_omitted);
        }
    } else if let Some(runbook) = &outcome.record.runbook {
        if let Some(progress) = &runbook.progress {
            println!("waiting    {progress}");
        }
        match runbook.next_step() {
            Some(step) if step.operator_only() => println!(
                "runbook {} continues: run `drctl failback` again (step {step:?} waits on RDS; the health checker leaves it to you)",
                runbook.id
            ),
            _ => println!(
                "runbook {} continues (next steps run at the health checker's next round)",
                runbook.id
            ),
        }
    }
    print_state(&outcome.record);
}

fn print_state(record: &FailoverRecord) {
    let state = &record.state;
    println!(
        "state  {}  serving {}  down streak {}  up streak {}{}",
        state.mode,
        state.serving(),
        state.down_streak,
        state.up_streak,
        state
            .hold
            .as_ref()
            .map(|h| format!("  HELD by {}: {}", h.by, h.reason))
            .unwrap_or_default()
    );
}
