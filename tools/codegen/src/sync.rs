//! Formats generated files with `deno fmt` and compares or writes them to `bindings/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use similar::TextDiff;

use crate::proto::GeneratedFile;

/// Formats `files` exactly as `deno fmt` would in the repository, in a scratch directory.
fn formatted(files: &[GeneratedFile]) -> Result<Vec<GeneratedFile>, String> {
    // Rust output is emitted already in rustfmt style; `deno fmt` takes the rest.
    let for_deno = |path: &Path| path.extension().is_some_and(|e| e != "rs");
    if !files.iter().any(|(path, _)| for_deno(path)) {
        return Ok(files.to_vec());
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    for (path, text) in files.iter().filter(|(path, _)| for_deno(path)) {
        let full = dir.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&full, text).map_err(|e| e.to_string())?;
    }
    let status = Command::new("deno")
        .args(["fmt", "--quiet"])
        .arg(dir.path())
        .status()
        .map_err(|e| format!("cannot run `deno fmt`: {e}"))?;
    if !status.success() {
        return Err("`deno fmt` failed on the generated files".into());
    }
    files
        .iter()
        .map(|(path, text)| {
            if !for_deno(path) {
                return Ok((path.clone(), text.clone()));
            }
            std::fs::read_to_string(dir.path().join(path))
                .map(|text| (path.clone(), text))
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// Files under `dir` that the generator did not produce (they are stale).
fn extra_files(files: &[GeneratedFile], dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    collect(dir, dir, &mut found);
    found.retain(|rel| !files.iter().any(|(p, _)| p == rel));
    found.sort();
    found
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_path_buf());
        }
    }
}

/// A unified diff from `dir` (shown as `label`) to the generated files; empty when
/// identical. With `prune`, files in `dir` the generator did not produce count as stale.
pub fn diff(
    files: &[GeneratedFile],
    dir: &Path,
    label: &str,
    prune: bool,
) -> Result<String, String> {
    let mut out = String::new();
    for (path, text) in formatted(files)? {
        let current = std::fs::read_to_string(dir.join(&path)).unwrap_or_default();
        if current != text {
            let name = format!("{label}/{}", path.display());
            out.push_str(
                &TextDiff::from_lines(&current, &text)
                    .unified_diff()
                    .header(&name, &format!("{name} (generated)"))
                    .to_string(),
            );
        }
    }
    if prune {
        for extra in extra_files(files, dir) {
            out.push_str(&format!(
                "{label}/{} is not generated any more and should be removed\n",
                extra.display()
            ));
        }
    }
    Ok(out)
}

/// Writes changed files into `dir` and, with `prune`, removes stale ones; returns how many
/// changed.
pub fn write(files: &[GeneratedFile], dir: &Path, prune: bool) -> Result<usize, String> {
    let mut changed = 0;
    for (path, text) in formatted(files)? {
        let full = dir.join(&path);
        if std::fs::read_to_string(&full).ok().as_deref() != Some(text.as_str()) {
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            std::fs::write(&full, text)
                .map_err(|e| format!("cannot write {}: {e}", full.display()))?;
            changed += 1;
        }
    }
    if prune {
        for extra in extra_files(files, dir) {
            std::fs::remove_file(dir.join(&extra)).map_err(|e| e.to_string())?;
            changed += 1;
        }
    }
    Ok(changed)
}
