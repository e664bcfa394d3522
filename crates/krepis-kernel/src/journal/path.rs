//! Confining paths to the project root.
//!
//! Every path a caller hands the journal is resolved here first. A path that leaves the
//! root — through `..`, an absolute path elsewhere or a symlink pointing outside — is
//! refused with [`KernelError::PermissionDenied`] before anything is recorded or touched.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use crate::{KernelError, Result};

/// The directory under the root that holds Krepis's own data; never journaled.
pub const DATA_DIR: &str = ".krepis";

/// A path inside the root: its `/`-separated key and its absolute location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootPath {
    /// The path relative to the root with `/` separators, e.g. `src/main.ts`.
    pub rel: String,
    /// The absolute path on disk.
    pub abs: PathBuf,
}

/// Resolves `input` (relative to `root`, or absolute inside it) to a [`RootPath`].
///
/// `root` must be canonical. `..` is resolved lexically and may not climb above the root;
/// every existing ancestor that is a symlink must resolve inside the root; the path itself
/// may not be a symlink (the journal records files and directories only) nor lie in
/// [`DATA_DIR`].
pub fn resolve(root: &Path, input: &str) -> Result<RootPath> {
    resolve_cached(root, input, &mut HashSet::new())
}

/// [`resolve`], skipping the checks of directories listed in `dirs` (paths relative to
/// the root already found to be real directories) and adding the ones it verifies.
pub fn resolve_cached(root: &Path, input: &str, dirs: &mut HashSet<String>) -> Result<RootPath> {
    if input.is_empty() {
        return Err(KernelError::invalid("path is empty"));
    }
    if input.contains('\0') {
        return Err(KernelError::invalid(format!("path {input:?} contains NUL")));
    }
    let given = Path::new(input);
    let relative = if given.is_absolute() {
        given.strip_prefix(root).map_err(|_| outside(input, root))?
    } else {
        given
    };
    let mut parts: Vec<String> = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => parts.push(
                part.to_str()
                    .ok_or_else(|| KernelError::invalid(format!("path {input:?} is not UTF-8")))?
                    .to_string(),
            ),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(outside(input, root));
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err(outside(input, root)),
        }
    }
    if parts.is_empty() {
        return Err(KernelError::invalid(format!(
            "path {input:?} names the root itself, not a file in it"
        )));
    }
    if parts[0] == DATA_DIR {
        return Err(KernelError::PermissionDenied(format!(
            "path {input:?} is inside {DATA_DIR}/, which holds Krepis's own data"
        )));
    }
    let rel = parts.join("/");
    let mut abs = root.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        abs.push(part);
        let last = i + 1 == parts.len();
        let prefix = if last {
            rel.as_str()
        } else {
            &rel[..parts[..=i].iter().map(|p| p.len() + 1).sum::<usize>() - 1]
        };
        if !last && dirs.contains(prefix) {
            continue;
        }
        match std::fs::symlink_metadata(&abs) {
            Ok(meta) if meta.file_type().is_symlink() => {
                if last {
                    return Err(KernelError::PermissionDenied(format!(
                        "path {input:?} is a symlink; the journal records regular files and directories only"
                    )));
                }
                let target = std::fs::canonicalize(&abs).map_err(|e| {
                    KernelError::io(format!("resolve symlink {}", abs.display()), e)
                })?;
                if !target.starts_with(root) {
                    return Err(KernelError::PermissionDenied(format!(
                        "path {input:?} goes through symlink {} to {}, outside the project root {}",
                        parts[..=i].join("/"),
                        target.display(),
                        root.display()
                    )));
                }
            }
            Ok(meta) if meta.is_dir() && !last => {
                dirs.insert(prefix.to_string());
            }
            Ok(_) => {}
            // Nothing below a missing component can be a symlink.
            Err(e) if is_missing(&e) => break,
            Err(e) => return Err(KernelError::io(format!("inspect {}", abs.display()), e)),
        }
    }
    let abs = root.join(&rel);
    Ok(RootPath { rel, abs })
}

/// Whether `e` means "nothing there": not found, or a file where a directory would be.
pub fn is_missing(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

fn outside(input: &str, root: &Path) -> KernelError {
    KernelError::PermissionDenied(format!(
        "path {input:?} is outside the project root {}",
        root.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        (dir, root)
    }

    #[test]
    fn relative_and_absolute_paths_inside_the_root_resolve() {
        let (_dir, root) = root();
        let p = resolve(&root, "src/./a/../main.ts").unwrap();
        assert_eq!(p.rel, "src/main.ts");
        assert_eq!(p.abs, root.join("src/main.ts"));
        let abs = root.join("x.txt");
        assert_eq!(resolve(&root, abs.to_str().unwrap()).unwrap().rel, "x.txt");
    }

    #[test]
    fn escapes_are_refused_with_a_clear_error() {
        let (_dir, root) = root();
        for bad in ["../x", "a/../../x", "/etc/passwd", ".krepis/journal/db"] {
            let err = resolve(&root, bad).unwrap_err();
            assert!(
                matches!(err, KernelError::PermissionDenied(_)),
                "{bad}: {err}"
            );
        }
        assert!(matches!(
            resolve(&root, "").unwrap_err(),
            KernelError::InvalidArgument(_)
        ));
        assert!(matches!(
            resolve(&root, "a/..").unwrap_err(),
            KernelError::InvalidArgument(_)
        ));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_root_are_refused() {
        let (_dir, root) = root();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        let err = resolve(&root, "out/secret.txt").unwrap_err();
        assert!(
            err.to_string().contains("outside the project root"),
            "{err}"
        );
        std::fs::create_dir(root.join("real")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("inside")).unwrap();
        assert_eq!(resolve(&root, "inside/a.txt").unwrap().rel, "inside/a.txt");
        let err = resolve(&root, "inside").unwrap_err();
        assert!(err.to_string().contains("is a symlink"), "{err}");
    }
}
