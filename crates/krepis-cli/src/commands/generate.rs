//! `krepis gen command|query|port|adapter <Name>`: the smart-gen generator
//! (`@krepis/smart-gen`'s `gen`, run by Deno) plans the files; this command
//! writes them as one journaled transaction in the project the current
//! directory belongs to.

use std::path::{Component, Path, PathBuf};
use std::process::Stdio;

use clap::{Args, ValueEnum};
use serde::Deserialize;

use crate::error::{CliError, Result};
use crate::project;
use crate::workspace::{Tools, spawn_error};
use crate::writes::{self, Expected, FileChange};

/// Arguments of `krepis gen`.
#[derive(Args, Debug)]
pub struct GenArgs {
    /// What to generate.
    #[arg(value_enum, required_unless_present = "list")]
    pub kind: Option<GenKind>,
    /// Its name, e.g. CreateTodo (create-todo and create_todo work too).
    #[arg(required_unless_present = "list")]
    pub name: Option<String>,
    /// The port a command or query depends on, or an adapter implements.
    #[arg(long, value_name = "PORT")]
    pub port: Option<String>,
    /// Add a route for the command or query, e.g. "POST /notes/:id"
    /// (path parameters become input fields).
    #[arg(long, value_name = "METHOD /PATH")]
    pub route: Option<String>,
    /// The app module calling createApp (found automatically by default).
    #[arg(long, value_name = "FILE")]
    pub app: Option<PathBuf>,
    /// Project root; by default the nearest directory upwards with a deno.json or .krepis/.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Print what would change, as a diff, without writing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not generate a test file beside the command, query or adapter.
    #[arg(long)]
    pub no_test: bool,
    /// List what `krepis gen` can generate and the files each creates.
    #[arg(long, exclusive = true)]
    pub list: bool,
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
    /// An adapter class implementing a port, bound in the app (`Memory…` names get a working in-memory one).
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

    /// The files a generation of this kind creates, for `--list`.
    fn files(self) -> &'static str {
        match self {
            Self::Command => {
                "src/application/commands/<name>.ts (+ _test.ts), registered in src/app.ts"
            }
            Self::Query => {
                "src/application/queries/<name>.ts (+ _test.ts), registered in src/app.ts"
            }
            Self::Port => "src/ports/<name>.ts",
            Self::Adapter => "src/adapters/<name>.ts (+ _test.ts), bound in src/app.ts",
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
    /// Hex SHA-256 of the content planned against; `None`: the file must not exist.
    before: Option<String>,
}

/// How often a generation is planned again when a file it edits changed meanwhile.
const ATTEMPTS: usize = 5;

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

fn plan(args: &GenArgs, kind: GenKind, name: &str, root: &Path) -> Result<Plan> {
    let tools = Tools::for_app(Some(root))?;
    let mut cmd = tools.deno_run("smart-gen", "gen", "gen.ts");
    cmd.arg(kind.as_str()).arg(name).arg("--root").arg(root);
    if let Some(port) = &args.port {
        cmd.arg("--port").arg(port);
    }
    if let Some(route) = &args.route {
        cmd.arg("--route").arg(route);
    }
    if let Some(app) = &args.app {
        let app = std::path::absolute(app).map_err(|e| CliError::io(app, e))?;
        cmd.arg("--app").arg(app);
    }
    if args.no_test {
        cmd.arg("--no-test");
    }
    let out = cmd
        .current_dir(root)
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

fn changes(plan: &Plan) -> Result<Vec<FileChange>> {
    plan.files
        .iter()
        .map(|file| {
            Ok(FileChange {
                path: checked_path(&file.path)?.to_string(),
                content: file.content.as_bytes().to_vec(),
                expected: Some(match &file.before {
                    Some(hash) => Expected::Hash(hash.clone()),
                    None => Expected::Absent,
                }),
            })
        })
        .collect()
}

fn print_list() {
    println!("krepis gen <kind> <Name> generates:");
    for kind in GenKind::value_variants() {
        let help = kind
            .to_possible_value()
            .and_then(|v| v.get_help().map(ToString::to_string))
            .unwrap_or_default();
        println!("  {:<8} {help}", kind.as_str());
        println!("  {:<8}   creates {}", "", kind.files());
    }
    println!("options: --port <Port>, --route \"<METHOD> /path/:param\", --dry-run, --no-test");
}

/// Plans with the generator, then writes every file in one transaction;
/// plans again when a file changed between planning and writing.
pub fn run(args: GenArgs) -> Result<()> {
    if args.list {
        print_list();
        return Ok(());
    }
    let (Some(kind), Some(name)) = (args.kind, args.name.clone()) else {
        return Err(CliError::Usage("krepis gen needs <kind> and <Name>".into()));
    };
    let root = project::root(args.root.as_deref(), "gen")?;
    let label = format!("gen {} {name}", kind.as_str());
    for attempt in 1..=ATTEMPTS {
        let plan = plan(&args, kind, &name, &root)?;
        let changes = changes(&plan)?;
        if args.dry_run {
            print!("{}", writes::diff(&root, &changes));
            for file in &plan.files {
                let verb = if file.action == "create" {
                    "would create"
                } else {
                    "would update"
                };
                println!("{verb} {}", file.path);
            }
        } else {
            match writes::apply(&root, &label, &changes) {
                Ok(_) => {}
                Err(CliError::Conflict(why)) if attempt < ATTEMPTS => {
                    eprintln!("note: {why}; planning again");
                    continue;
                }
                Err(CliError::Conflict(why)) => {
                    return Err(CliError::Failed(format!(
                        "{why}, {ATTEMPTS} times in a row; nothing was written"
                    )));
                }
                Err(e) => return Err(e),
            }
            for file in &plan.files {
                let verb = if file.action == "create" {
                    "created"
                } else {
                    "updated"
                };
                println!("{verb} {}", file.path);
            }
        }
        for note in &plan.notes {
            println!("note: {note}");
        }
        return Ok(());
    }
    unreachable!("the last attempt returns")
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
