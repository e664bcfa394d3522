//! Where the CLI's TypeScript tools (generator, checkers, lint plugin) come
//! from, and the `deno` executable that runs them.
//!
//! Users get the tools as the versioned JSR packages `@krepis/smart-gen` and
//! `@krepis/cli` of this CLI's own version, run by Deno; nothing is read from
//! a path in a checkout. Contributors get their checkout: `KREPIS_HOME`, the
//! checkout an app is linked to (`krepis init --core <path>` / `--dev`), or
//! the checkout around the current directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::CliError;

/// Environment variable naming the Krepis workspace explicitly.
pub const HOME_ENV: &str = "KREPIS_HOME";
/// Environment variable naming the `deno` executable explicitly.
pub const DENO_ENV: &str = "KREPIS_DENO";
/// The version of this CLI, which is the version of the packages it runs.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Whether `dir` is the root of a Krepis checkout.
pub fn is_workspace_root(dir: &Path) -> bool {
    dir.join("Cargo.toml").is_file()
        && dir.join("crates/krepis-kernel/Cargo.toml").is_file()
        && dir.join("packages/smart-gen/deno.json").is_file()
}

/// The Krepis checkout that contains `start`, if any.
pub fn enclosing_workspace(start: &Path) -> Option<PathBuf> {
    let start = start.canonicalize().ok()?;
    start
        .ancestors()
        .find(|dir| is_workspace_root(dir))
        .map(Path::to_path_buf)
}

/// `$KREPIS_HOME` as a checkout, when set.
fn home() -> Result<Option<PathBuf>, CliError> {
    let Some(home) = std::env::var_os(HOME_ENV) else {
        return Ok(None);
    };
    let home = PathBuf::from(home);
    if is_workspace_root(&home) {
        Ok(Some(home.canonicalize().unwrap_or(home)))
    } else {
        Err(CliError::Failed(format!(
            "{HOME_ENV}={} is not a Krepis checkout (no crates/krepis-kernel and packages/smart-gen)",
            home.display()
        )))
    }
}

/// The checkout a contributor works in: `$KREPIS_HOME`, else the one around
/// the current directory.
pub fn contributor_checkout() -> Result<Option<PathBuf>, CliError> {
    if let Some(home) = home()? {
        return Ok(Some(home));
    }
    Ok(std::env::current_dir()
        .ok()
        .and_then(|cwd| enclosing_workspace(&cwd)))
}

/// The checkout an app is linked to: its `deno.json` maps `@krepis/core` to a
/// local file inside a Krepis checkout (`krepis init --core <path>`).
pub fn linked_checkout(app: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(app.join("deno.json")).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    let target = config.get("imports")?.get("@krepis/core")?.as_str()?;
    if target.contains(':') && !Path::new(target).is_absolute() {
        return None; // jsr:, npm:, https:
    }
    enclosing_workspace(&app.join(target))
}

/// Where the TypeScript tools come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tools {
    /// A Krepis checkout (contributors).
    Checkout(PathBuf),
    /// The JSR packages of this CLI's version.
    Published,
}

impl Tools {
    /// The tools for the app at `app` (its project root), if any: `$KREPIS_HOME`,
    /// the checkout the app is linked to, the checkout around the current
    /// directory, else the published packages.
    pub fn for_app(app: Option<&Path>) -> Result<Self, CliError> {
        if let Some(home) = home()? {
            return Ok(Self::Checkout(home));
        }
        if let Some(linked) = app.and_then(linked_checkout) {
            return Ok(Self::Checkout(linked));
        }
        Ok(contributor_checkout()?.map_or(Self::Published, Self::Checkout))
    }

    /// The checkout, when the tools come from one.
    pub fn checkout(&self) -> Option<&Path> {
        match self {
            Self::Checkout(root) => Some(root),
            Self::Published => None,
        }
    }

    /// `deno run --allow-all` of a tool: `package` is `smart-gen` or `cli`,
    /// `export` the package's export (`gen`, `check`), `file` its module in
    /// the checkout. Published tools run without the app's configuration, so
    /// they neither read nor change its lock file.
    pub fn deno_run(&self, package: &str, export: &str, file: &str) -> Command {
        self.deno_run_with(&[], package, export, file)
    }

    /// [`Tools::deno_run`] with extra `deno run` flags before the module.
    pub fn deno_run_with(
        &self,
        flags: &[&str],
        package: &str,
        export: &str,
        file: &str,
    ) -> Command {
        let mut cmd = deno_command();
        cmd.args(["run", "--allow-all"]).args(flags);
        match self {
            Self::Checkout(root) => {
                cmd.arg("--config")
                    .arg(root.join("deno.json"))
                    .arg(root.join("packages").join(package).join(file));
            }
            Self::Published => {
                cmd.args(["--no-config", "--no-lock"])
                    .arg(format!("jsr:@krepis/{package}@{VERSION}/{export}"));
            }
        }
        cmd
    }
}

/// The `deno` executable: `$KREPIS_DENO` or `deno` on the `PATH`.
pub fn deno() -> PathBuf {
    std::env::var_os(DENO_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("deno"))
}

/// A `deno` command with the colour and update-check settings the CLI wants.
pub fn deno_command() -> Command {
    let mut cmd = Command::new(deno());
    cmd.env("DENO_NO_UPDATE_CHECK", "1");
    cmd
}

/// V8 flags for `deno lint` runs that load the krepis lint plugin.
///
/// With the plugin loaded, Deno 2.9.6 dies on SIGSEGV in a V8 worker thread
/// now and then (about 1 run in 15 on this repository); with V8's concurrent
/// optimizing compiler off it did not crash in 120 runs.
pub const LINT_V8_FLAGS: &str = "--no-concurrent-recompilation";

/// A `deno lint` command that runs the krepis lint plugin without the V8
/// crash [`LINT_V8_FLAGS`] avoids.
pub fn deno_lint_command() -> Command {
    let mut cmd = deno_command();
    cmd.env("DENO_V8_FLAGS", LINT_V8_FLAGS).arg("lint");
    cmd
}

/// Maps a failure to start `program` to an error with an install hint.
pub fn spawn_error(program: &str, source: std::io::Error) -> CliError {
    let hint = match (program, source.kind()) {
        ("deno", std::io::ErrorKind::NotFound) => {
            format!("\nhint: install Deno (`npm install -g deno`) or set {DENO_ENV}")
        }
        ("cargo", std::io::ErrorKind::NotFound) => {
            "\nhint: install the Rust toolchain to rebuild the kernel".to_string()
        }
        _ => String::new(),
    };
    CliError::Spawn {
        program: program.to_string(),
        source,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_this_checkout_from_a_nested_directory() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = enclosing_workspace(here).expect("the crate lives in a checkout");
        assert!(is_workspace_root(&root));
        assert!(here.canonicalize().unwrap().starts_with(&root));
    }

    #[test]
    fn deno_lint_runs_without_v8s_concurrent_recompilation() {
        let cmd = deno_lint_command();
        assert_eq!(cmd.get_args().next(), Some(std::ffi::OsStr::new("lint")));
        let flags = cmd
            .get_envs()
            .find(|(name, _)| *name == "DENO_V8_FLAGS")
            .and_then(|(_, value)| value);
        assert_eq!(flags, Some(std::ffi::OsStr::new(LINT_V8_FLAGS)));
        assert_eq!(LINT_V8_FLAGS, "--no-concurrent-recompilation");
    }

    #[test]
    fn a_temp_dir_is_not_a_checkout() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(enclosing_workspace(dir.path()), None);
    }

    #[test]
    fn an_app_linked_to_a_checkout_uses_it_and_a_published_one_does_not() {
        let checkout = enclosing_workspace(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let linked = format!(
            r#"{{"imports":{{"@krepis/core":"{}"}}}}"#,
            checkout.join("packages/core/mod.ts").display()
        );
        std::fs::write(dir.path().join("deno.json"), linked).unwrap();
        assert_eq!(linked_checkout(dir.path()), Some(checkout));
        std::fs::write(
            dir.path().join("deno.json"),
            r#"{"imports":{"@krepis/core":"jsr:@krepis/core@^0.1.0"}}"#,
        )
        .unwrap();
        assert_eq!(linked_checkout(dir.path()), None);
    }

    #[test]
    fn published_tools_run_the_versioned_package_without_the_app_config() {
        let cmd = Tools::Published.deno_run("smart-gen", "gen", "gen.ts");
        let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
        assert_eq!(
            args,
            [
                "run",
                "--allow-all",
                "--no-config",
                "--no-lock",
                &format!("jsr:@krepis/smart-gen@{VERSION}/gen")
            ]
        );
    }
}
