//! `krepis plugin`: check a plugin's code against its declared permissions (the TypeScript
//! analyser `packages/cli/plugin_check.ts`, run by Deno like `krepis check`); create keys,
//! sign and verify plugins (the kernel's `plugin` module); and run command plugins
//! (`packages/cli/plugin_run.ts`, which has the kernel verify them before they start).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use clap::{Args, Subcommand};
use krepis_kernel::plugin::{self, keys};

use crate::error::{CliError, Result};
use crate::workspace::{Tools, spawn_error};

/// Arguments of `krepis plugin`.
#[derive(Args, Debug)]
pub struct PluginArgs {
    #[command(subcommand)]
    command: PluginCommand,
}

#[derive(Subcommand, Debug)]
enum PluginCommand {
    /// Statically check a plugin's module graph against its declared permissions.
    Check {
        /// The plugin directory (holding krepis.plugin.json).
        dir: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a signing key pair: the secret key at PATH, the public key at PATH.pub.
    Keygen {
        /// Where to write the secret key.
        path: PathBuf,
    },
    /// Check a plugin and sign it (writes krepis.plugin.sig beside the manifest).
    Sign {
        /// The plugin directory.
        dir: PathBuf,
        /// The secret key file (from `krepis plugin keygen`).
        #[arg(long)]
        key: PathBuf,
    },
    /// Verify a plugin's signature against trusted public keys (exit 1 when refused).
    Verify {
        /// The plugin directory.
        dir: PathBuf,
        /// A trusted public key file (`.pub`); repeat for several.
        #[arg(long = "trust", required = true)]
        trust: Vec<PathBuf>,
    },
    /// Run a command plugin: the kernel verifies it, then it runs in its own isolate.
    Run {
        /// The plugin directory.
        dir: PathBuf,
        /// A trusted public key file (`.pub`); repeat for several.
        #[arg(long = "trust", required = true)]
        trust: Vec<PathBuf>,
        /// Run it in a child `deno` process instead of a Worker.
        #[arg(long)]
        process: bool,
        /// Arguments passed to the plugin (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
}

fn kernel_error(error: krepis_kernel::KernelError) -> CliError {
    CliError::Failed(error.to_string())
}

/// Runs a `krepis plugin` subcommand.
pub fn run(args: PluginArgs) -> Result<()> {
    match args.command {
        PluginCommand::Check { dir, json } => check(&dir, json),
        PluginCommand::Keygen { path } => {
            let public = keys::write_key_pair(&path).map_err(kernel_error)?;
            println!("secret key: {} (keep it private)", path.display());
            println!(
                "public key: {} ({})",
                keys::public_path(&path).display(),
                hex::encode(public.as_bytes())
            );
            Ok(())
        }
        PluginCommand::Sign { dir, key } => sign(&dir, &key),
        PluginCommand::Run {
            dir,
            trust,
            process,
            args,
        } => run_command(&dir, &trust, process, &args),
        PluginCommand::Verify { dir, trust } => {
            let trusted = trust
                .iter()
                .map(|p| keys::read_public(p))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(kernel_error)?;
            let verified = plugin::verify(&dir, &trusted).map_err(kernel_error)?;
            println!(
                "ok: {} {} ({} files) signed by {}",
                verified.manifest.name,
                verified.manifest.version,
                verified.files.len(),
                hex::encode(verified.signer.as_bytes())
            );
            Ok(())
        }
    }
}

fn plugin_dir(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        return Err(CliError::Usage(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    plugin::read_manifest(dir).map(drop).map_err(kernel_error)
}

/// `deno run` of a TypeScript tool of `@krepis/cli`: its `export` from the
/// published package of this CLI's version, or `file` in a checkout.
fn tool(export: &str, file: &str) -> Result<std::process::Command> {
    let tools = Tools::for_app(None)?;
    Ok(tools.deno_run_with(&["--unstable-worker-options"], "cli", export, file))
}

/// The exit of a tool that reports its own errors.
fn exit(status: std::process::ExitStatus, what: &str) -> Result<()> {
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(CliError::Exit(code)),
        None => Err(CliError::Failed(format!("{what} was killed"))),
    }
}

fn run_command(dir: &Path, trust: &[PathBuf], process: bool, args: &[String]) -> Result<()> {
    plugin_dir(dir)?;
    let mut cmd = tool("plugin-run", "plugin_run.ts")?;
    for key in trust {
        cmd.arg("--trust").arg(key);
    }
    if process {
        cmd.args(["--isolation", "process"]);
    }
    cmd.arg(dir).arg("--").args(args);
    exit(
        cmd.status().map_err(|e| spawn_error("deno", e))?,
        "the plugin host",
    )
}

/// The analyser as a `deno` command over `dir`.
fn checker(dir: &Path, json: bool) -> Result<std::process::Command> {
    let mut cmd = tool("plugin-check", "plugin_check.ts")?;
    if json {
        cmd.arg("--json");
    }
    cmd.arg(dir);
    Ok(cmd)
}

fn check(dir: &Path, json: bool) -> Result<()> {
    plugin_dir(dir)?;
    exit(
        checker(dir, json)?
            .status()
            .map_err(|e| spawn_error("deno", e))?,
        "the plugin checker",
    )
}

fn sign(dir: &Path, key: &Path) -> Result<()> {
    plugin_dir(dir)?;
    let secret = keys::read_secret(key).map_err(kernel_error)?;
    let output = checker(dir, true)?
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| spawn_error("deno", e))?;
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| CliError::Failed(format!("the plugin checker gave no JSON report ({e})")))?;
    if !output.status.success() {
        // Show the findings the way `krepis plugin check` does, then refuse.
        let _ = checker(dir, false)?.status();
        return Err(CliError::Failed(
            "not signed: the static check failed".into(),
        ));
    }
    let signed = plugin::sign(dir, &secret, report).map_err(kernel_error)?;
    println!(
        "signed {} {} ({} files) with {}; wrote {}",
        signed.manifest.name,
        signed.manifest.version,
        signed.files.len(),
        signed.public_key,
        dir.join(plugin::SIGNATURE_FILE).display()
    );
    Ok(())
}
