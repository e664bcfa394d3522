//! `krepis dev [entry]`: supervise the app with hot reload.

use std::path::PathBuf;

use clap::Args;

use crate::error::{CliError, Result};
use crate::supervisor::{self, Options};
use crate::workspace::{enclosing_workspace, tools_root};

/// Arguments of `krepis dev`.
#[derive(Args, Debug)]
pub struct DevArgs {
    /// The app's entry module.
    #[arg(default_value = "main.ts")]
    pub entry: PathBuf,
    /// Directories to watch for TypeScript changes (default: the entry's directory).
    #[arg(long = "watch", value_name = "DIR")]
    pub watch: Vec<PathBuf>,
    /// Do not run the ctx checker before reloading.
    #[arg(long)]
    pub no_ctx_check: bool,
    /// Arguments for the app (after `--`).
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// Runs the supervisor until it is stopped by a signal.
pub fn run(args: DevArgs) -> Result<()> {
    if !args.entry.is_file() {
        return Err(CliError::Usage(format!(
            "entry module {} does not exist",
            args.entry.display()
        )));
    }
    let entry = args
        .entry
        .canonicalize()
        .map_err(|e| CliError::io(&args.entry, e))?;
    let app_dir = entry
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut watch = Vec::new();
    for dir in if args.watch.is_empty() {
        vec![app_dir.clone()]
    } else {
        args.watch
    } {
        if !dir.is_dir() {
            return Err(CliError::Usage(format!(
                "--watch {} is not a directory",
                dir.display()
            )));
        }
        watch.push(dir.canonicalize().map_err(|e| CliError::io(&dir, e))?);
    }
    let ctx_lint = if args.no_ctx_check {
        None
    } else {
        tools_root()
            .ok()
            .map(|root| root.join("packages/smart-gen/ctx_lint.json"))
            .filter(|config| config.is_file())
    };
    supervisor::run(Options {
        entry,
        args: args.args,
        watch,
        workspace: enclosing_workspace(&app_dir),
        ctx_lint,
    })
}
