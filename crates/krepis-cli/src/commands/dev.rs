//! `krepis dev [entry]`: supervise the app with hot reload.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::error::{CliError, Result};
use crate::project;
use crate::supervisor::{self, Options};
use crate::workspace::{Tools, VERSION};

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
    let app_root = project::find_root(&app_dir).unwrap_or_else(|| app_dir.clone());
    let tools = Tools::for_app(Some(&app_root))?;
    let ctx_lint = if args.no_ctx_check {
        None
    } else {
        match tools.checkout() {
            Some(root) => Some(root.join("packages/smart-gen/ctx_lint.json"))
                .filter(|config| config.is_file()),
            None => Some(published_ctx_lint()?),
        }
    };
    supervisor::run(Options {
        entry,
        args: args.args,
        watch,
        // A linked checkout (`krepis init --dev`) is watched and its kernel rebuilt too.
        workspace: tools.checkout().map(Path::to_path_buf),
        ctx_lint,
    })
}

/// A lint configuration running only the published ctx plugin of this CLI's
/// version. It lives outside the app: `deno lint` finds no files to lint
/// when its configuration sits below them (e.g. in the app's `.krepis/`).
fn published_ctx_lint() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("krepis-{VERSION}"));
    std::fs::create_dir_all(&dir).map_err(|e| CliError::io(&dir, e))?;
    let path = dir.join("ctx_lint.json");
    let config = serde_json::json!({
        "lint": {
            "plugins": [format!("jsr:@krepis/smart-gen@{VERSION}/lint-plugin")],
            "rules": { "tags": [] }
        }
    });
    std::fs::write(&path, format!("{config}\n")).map_err(|e| CliError::io(&path, e))?;
    Ok(path)
}
