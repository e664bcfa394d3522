//! Finding the app a command is about: the nearest directory from the
//! starting point upwards that holds the app's `deno.json` (or `deno.jsonc`)
//! or its `.krepis/` data, like every tool with a project file.

use std::path::{Path, PathBuf};

use crate::error::{CliError, Result};

/// Whether `dir` is the root of a Krepis app (or any Deno project).
pub fn is_project_root(dir: &Path) -> bool {
    dir.join("deno.json").is_file()
        || dir.join("deno.jsonc").is_file()
        || dir.join(".krepis").is_dir()
}

/// The project root at or above `start` (a file or a directory), canonical.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    let start = start.canonicalize().ok()?;
    let dir = if start.is_file() {
        start.parent()?.to_path_buf()
    } else {
        start
    };
    dir.ancestors()
        .find(|d| is_project_root(d))
        .map(Path::to_path_buf)
}

/// The project root for a command: `explicit` (`--root`), which must be a
/// project, or the one at or above the current directory. Outside any
/// project the error says so instead of guessing.
pub fn root(explicit: Option<&Path>, command: &str) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        let canonical = dir
            .canonicalize()
            .map_err(|e| CliError::Usage(format!("--root {}: {e}", dir.display())))?;
        if !canonical.is_dir() || !is_project_root(&canonical) {
            return Err(CliError::Usage(format!(
                "--root {} is not a Krepis project (no deno.json or .krepis/ in it)",
                dir.display()
            )));
        }
        return Ok(canonical);
    }
    let cwd = std::env::current_dir().map_err(|e| CliError::io(".", e))?;
    find_root(&cwd).ok_or_else(|| {
        CliError::Usage(format!(
            "`krepis {command}` runs inside a Krepis project, and there is none at {} or above \
             (no deno.json or .krepis/); cd into the app or pass --root <dir>",
            cwd.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_up_from_nested_directories_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app");
        std::fs::create_dir_all(app.join("src/application")).unwrap();
        std::fs::write(app.join("deno.json"), "{}").unwrap();
        std::fs::write(app.join("src/app.ts"), "").unwrap();
        let app = app.canonicalize().unwrap();
        assert_eq!(find_root(&app.join("src/application")), Some(app.clone()));
        assert_eq!(find_root(&app.join("src/app.ts")), Some(app.clone()));
        assert_eq!(find_root(&app), Some(app));
    }

    #[test]
    fn a_directory_outside_any_project_has_no_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("loose")).unwrap();
        // Temp directories live outside any project on every test machine.
        assert_eq!(find_root(&dir.path().join("loose")), None);
        let err = root(Some(&dir.path().join("loose")), "gen").unwrap_err();
        assert!(err.to_string().contains("is not a Krepis project"), "{err}");
    }
}
