//! `krepis check`: the ctx checker and the architecture checker, run by
//! Deno from the Krepis TypeScript tools (`packages/cli/check.ts`).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::error::{CliError, Result};
use crate::workspace::{deno_command, spawn_error, tools_root};

/// Arguments of `krepis check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// App directories to check (default: the current directory).
    pub dirs: Vec<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Which checkers to run.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [RuleSet::Ctx, RuleSet::Arch])]
    pub rules: Vec<RuleSet>,
}

/// A group of rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RuleSet {
    /// `ctx: KrepisContext` first in commands, queries, ports and adapters.
    Ctx,
    /// Layering: pure domain, ports-only application, read-only queries.
    Arch,
}

/// Runs the checkers; exits with their code (1 when there are violations).
pub fn run(args: CheckArgs) -> Result<()> {
    for dir in &args.dirs {
        if !dir.is_dir() {
            return Err(CliError::Usage(format!(
                "{} is not a directory",
                dir.display()
            )));
        }
    }
    let tools = tools_root()?;
    let rules: Vec<&str> = args
        .rules
        .iter()
        .map(|r| match r {
            RuleSet::Ctx => "ctx",
            RuleSet::Arch => "arch",
        })
        .collect();
    let mut cmd = deno_command();
    cmd.args(["run", "--allow-all", "--config"])
        .arg(tools.join("deno.json"))
        .arg(tools.join("packages/cli/check.ts"))
        .arg("--rules")
        .arg(rules.join(","));
    if args.json {
        cmd.arg("--json");
    }
    if args.dirs.is_empty() {
        cmd.arg(".");
    } else {
        cmd.args(&args.dirs);
    }
    let status = cmd.status().map_err(|e| spawn_error("deno", e))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(CliError::Exit(code)),
        None => Err(CliError::Failed("the checker was killed".into())),
    }
}
