//! Locating things the CLI needs: the Krepis workspace (for the TypeScript
//! tools and kernel rebuilds) and the `deno` executable.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::CliError;

/// Environment variable naming the Krepis workspace explicitly.
pub const HOME_ENV: &str = "KREPIS_HOME";
/// Environment variable naming the `deno` executable explicitly.
pub const DENO_ENV: &str = "KREPIS_DENO";

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

/// The Krepis checkout that provides the TypeScript tools and `@krepis/core`:
/// `$KREPIS_HOME`, else the checkout enclosing the current directory, else
/// the checkout this binary was built from (when it still exists).
pub fn tools_root() -> Result<PathBuf, CliError> {
    if let Some(home) = std::env::var_os(HOME_ENV) {
        let home = PathBuf::from(home);
        return if is_workspace_root(&home) {
            Ok(home.canonicalize().unwrap_or(home))
        } else {
            Err(CliError::Failed(format!(
                "{HOME_ENV}={} is not a Krepis checkout (no crates/krepis-kernel and packages/smart-gen)",
                home.display()
            )))
        };
    }
    if let Some(root) = std::env::current_dir()
        .ok()
        .and_then(|cwd| enclosing_workspace(&cwd))
    {
        return Ok(root);
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if is_workspace_root(&built_from) {
        return Ok(built_from.canonicalize().unwrap_or(built_from));
    }
    Err(CliError::Failed(format!(
        "cannot find the Krepis TypeScript tools; set {HOME_ENV} to a Krepis checkout"
    )))
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
    fn a_temp_dir_is_not_a_checkout() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(enclosing_workspace(dir.path()), None);
    }
}
