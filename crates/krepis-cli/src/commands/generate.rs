//! `krepis gen command|query|port|adapter <Name>`: the smart-gen generator
//! (`packages/smart-gen/gen.ts`, run by Deno) plans the files; this command
//! writes them as one journaled transaction.

use std::path::{Component, Path, PathBuf};
use std::process::Stdio;

use clap::{Args, ValueEnum};
use serde::Deserialize;

use crate::error::{CliError, Result};
use crate::workspace::{deno_command, spawn_error, tools_root};
use crate::writes::{self, FileChange};

/// Arguments of `krepis gen`.
#[derive(Args, Debug)]
pub struct GenArgs {
    /// What to generate.
    #[arg(value_enum)]
    pub kind: GenKind,
    /// Its name, e.g. CreateTodo (create-todo and create_todo work too).
    pub name: String,
    /// The port a command or query depends on, or an adapter implements.
    #[arg(long, value_name = "PORT")]
    pub port: Option<String>,
    /// Add a route for the command or query, e.g. "POST /todos".
    #[arg(long, value_name = "METHOD /PATH")]
    pub route: Option<String>,
    /// The app module calling createApp (found automatically by default).
    #[arg(long, value_name = "FILE")]
    pub app: Option<PathBuf>,
    /// Print what would change without writing anything.
    #[arg(long)]
    pub dry_run: bool,
}

/// What `krepis gen` creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GenKind {
    /// A command (changes state) registered in the app.
    Command,
    /// A query (reads only) registered in the app.
    Query,
    /// A port: an interface plus its definePort constant.
    Port,
    /// An adapter class implementing a port, bound in the app.
    Adapter,
}

impl GenKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Command => "command",
            Self::Query => "query",
            Self::Port => "port",
            Self::Adapter => "adapter",
        }
    }
}

#[derive(Debug, Deserialize)]
struct Plan {
    files: Vec<PlannedFile>,
    notes: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct PlannedFile {
    path: String,
    content: String,
    action: String,
}

/// A plan path must stay inside the app: relative, no `..`.
fn checked_path(path: &str) -> Result<&str> {
    let p = Path::new(path);
    let inside = p
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if path.is_empty() || !inside {
        return Err(CliError::Failed(format!(
            "the generator planned a path outside the app: {path:?}"
        )));
    }
    Ok(path)
}

fn plan(args: &GenArgs) -> Result<Plan> {
    let tools = tools_root()?;
    let mut cmd = deno_command();
    cmd.args(["run", "--allow-all", "--config"])
        .arg(tools.join("deno.json"))
        .arg(tools.join("packages/smart-gen/gen.ts"))
        .arg(args.kind.as_str())
        .arg(&args.name);
    if let Some(port) = &args.port {
        cmd.arg("--port").arg(port);
    }
    if let Some(route) = &args.route {
        cmd.arg("--route").arg(route);
    }
    if let Some(app) = &args.app {
        cmd.arg("--app").arg(app);
    }
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| spawn_error("deno", e))?;
    if !out.status.success() {
        // The generator already printed `error: ...` (and the usage for bad arguments).
        return Err(CliError::Exit(out.status.code().unwrap_or(1)));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| CliError::Failed(format!("the generator printed an unreadable plan: {e}")))
}

/// Plans with the generator, then writes every file in one transaction.
pub fn run(args: GenArgs) -> Result<()> {
    let plan = plan(&args)?;
    let mut changes = Vec::with_capacity(plan.files.len());
    for file in &plan.files {
        changes.push(FileChange {
            path: checked_path(&file.path)?.to_string(),
            content: file.content.as_bytes().to_vec(),
        });
    }
    let verb = |action: &str| match (args.dry_run, action) {
        (true, "create") => "would create",
        (true, _) => "would update",
        (false, "create") => "created",
        (false, _) => "updated",
    };
    if !args.dry_run {
        let label = format!("gen {} {}", args.kind.as_str(), args.name);
        writes::apply(Path::new("."), &label, &changes)?;
    }
    for file in &plan.files {
        println!("{} {}", verb(&file.action), file.path);
    }
    for note in &plan.notes {
        println!("note: {note}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_paths_must_stay_inside_the_app() {
        assert!(checked_path("src/app.ts").is_ok());
        assert!(checked_path("../escape.ts").is_err());
        assert!(checked_path("/etc/passwd").is_err());
        assert!(checked_path("src/../../x.ts").is_err());
        assert!(checked_path("").is_err());
    }
}
