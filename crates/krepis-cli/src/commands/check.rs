//! `krepis check`: the ctx checker and the architecture checker
//! (`@krepis/cli`'s `check`, run by Deno) over the project around the current
//! directory, or over the directories and files given.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::error::{CliError, Result};
use crate::project;
use crate::workspace::{Tools, spawn_error};

/// Arguments of `krepis check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// App directories or single files to check (default: the project around
    /// the current directory). A file is checked within its app and only its
    /// violations are reported.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
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
    let paths = if args.paths.is_empty() {
        vec![project::root(None, "check")?]
    } else {
        for path in &args.paths {
            if !path.exists() {
                return Err(CliError::Usage(format!(
                    "{} does not exist",
                    path.display()
                )));
            }
        }
        args.paths
    };
    let tools = Tools::for_app(project::find_root(&paths[0]).as_deref())?;
    let rules: Vec<&str> = args
        .rules
        .iter()
        .map(|r| match r {
            RuleSet::Ctx => "ctx",
            RuleSet::Arch => "arch",
        })
        .collect();
    let mut cmd = tools.deno_run("cli", "check", "check.ts");
    cmd.arg("--rules").arg(rules.join(","));
    if args.json {
        cmd.arg("--json");
    }
    cmd.args(&paths);
    let status = cmd.status().map_err(|e| spawn_error("deno", e))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(CliError::Exit(code)),
        None => Err(CliError::Failed("the checker was killed".into())),
    }
}
