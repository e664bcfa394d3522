//! Confining paths to the project root.
//!
//! Every path a caller hands the journal is resolved here first. A path that leaves the
//! root — through `..`, an absolute path elsewhere or a symlink pointing outside — is
//! refused with [`KernelError::PermissionDenied`] before anything is recorded or touched.
//!
//! That early check gives a clear error, but it cannot be the guarantee: a symlink may be
//! planted or swapped between the check and the write. So every operation the journal
//! applies goes through [`Beneath`], which resolves the path beneath an open handle of the
//! root in the same call as the operation (`cap-std`: `openat2(RESOLVE_BENEATH)` or an
//! `openat` walk with `O_NOFOLLOW`), never leaves the root, and never follows a symlink in
//! the last component.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt, OpenOptionsMaybeDirExt};
use cap_std::fs::{Dir, OpenOptions};

use super::state::{self, PathState};
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
    let RootPath { rel, .. } = lexical(root, input)?;
    let parts: Vec<&str> = rel.split('/').collect();
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

/// The lexical part of [`resolve`]: `..` resolved, escapes and [`DATA_DIR`] refused,
/// nothing on disk looked at. Enough where the operation itself goes through [`Beneath`].
pub fn lexical(root: &Path, input: &str) -> Result<RootPath> {
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
    let abs = root.join(&rel);
    Ok(RootPath { rel, abs })
}

/// The project root as an open directory handle; every method takes a path relative to it.
pub struct Beneath {
    dir: Dir,
    root: PathBuf,
}

impl Beneath {
    /// Opens the (canonical) project root.
    pub fn open(root: &Path) -> Result<Self> {
        let dir = Dir::open_ambient_dir(root, cap_std::ambient_authority())
            .map_err(|e| KernelError::io(format!("open project root {}", root.display()), e))?;
        Ok(Self {
            dir,
            root: root.to_path_buf(),
        })
    }

    fn err(&self, what: &str, rel: &str, e: std::io::Error) -> KernelError {
        if e.kind() == std::io::ErrorKind::PermissionDenied || is_escape(&e) {
            return KernelError::PermissionDenied(format!(
                "{what} {rel}: the path leads outside the project root {} or through a \
                 symlink ({e}); nothing was changed there",
                self.root.display()
            ));
        }
        KernelError::io(format!("{what} {}", self.root.join(rel).display()), e)
    }

    /// Opens `rel` for reading without following a symlink in its last component.
    fn open_nofollow(&self, rel: &str) -> std::io::Result<std::fs::File> {
        let mut options = OpenOptions::new();
        options
            .read(true)
            .follow(FollowSymlinks::No)
            .maybe_dir(true);
        #[cfg(unix)]
        {
            use cap_std::fs::OpenOptionsExt;
            // A FIFO planted at the path must not block the journal.
            options.custom_flags(libc_nonblock());
        }
        self.dir.open_with(rel, &options).map(|f| f.into_std())
    }

    /// The current state of `rel`; for a file also its content, read from the same open
    /// handle the state comes from.
    pub fn capture(&self, rel: &str) -> Result<(PathState, Option<Vec<u8>>)> {
        let file = match self.open_nofollow(rel) {
            Ok(file) => file,
            Err(e) if is_missing(&e) => return Ok((PathState::Absent, None)),
            Err(e) if is_symlink_refusal(&e) => {
                return Err(KernelError::PermissionDenied(format!(
                    "{rel} is a symlink; the journal records regular files and directories only"
                )));
            }
            Err(e) => return Err(self.err("inspect", rel, e)),
        };
        let meta = file.metadata().map_err(|e| self.err("inspect", rel, e))?;
        if meta.is_dir() {
            return Ok((
                PathState::Dir {
                    mode: state::mode_of(&meta),
                },
                None,
            ));
        }
        if !meta.is_file() {
            return Err(KernelError::PermissionDenied(format!(
                "{rel} is neither a regular file nor a directory; the journal does not record it"
            )));
        }
        let mut content = Vec::with_capacity(meta.len() as usize);
        (&file)
            .read_to_end(&mut content)
            .map_err(|e| self.err("read", rel, e))?;
        Ok((
            PathState::file(&content, state::mode_of(&meta)),
            Some(content),
        ))
    }

    /// Whether `rel` is a directory (not following a final symlink); `None` when absent.
    pub fn is_dir(&self, rel: &str) -> Result<Option<bool>> {
        match self.dir.symlink_metadata(rel) {
            Ok(meta) => Ok(Some(meta.is_dir())),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(self.err("inspect", rel, e)),
        }
    }

    /// Creates the new file `rel` holding `content` with exactly `mode`. Fails when anything
    /// — a file, a directory, a symlink — is already there (`O_CREAT | O_EXCL`).
    pub fn create_file(&self, rel: &str, content: &[u8], mode: u32, sync: bool) -> Result<()> {
        let mut options = OpenOptions::new();
        options
            .write(true)
            .create_new(true)
            .follow(FollowSymlinks::No);
        let mut file = self
            .dir
            .open_with(rel, &options)
            .map_err(|e| self.err("create", rel, e))?
            .into_std();
        file.write_all(content)
            .map_err(|e| self.err("write", rel, e))?;
        set_file_mode(&file, mode).map_err(|e| self.err("chmod", rel, e))?;
        if sync {
            file.sync_all().map_err(|e| self.err("sync", rel, e))?;
        }
        Ok(())
    }

    /// Atomically moves `from` over `to` (both beneath the root); a symlink at `to` is
    /// replaced, never followed.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.dir
            .rename(from, &self.dir, to)
            .map_err(|e| self.err("rename to", to, e))
    }

    /// Creates the directory `rel` with `mode`.
    pub fn create_dir(&self, rel: &str, mode: u32) -> Result<()> {
        self.dir
            .create_dir(rel)
            .map_err(|e| self.err("mkdir", rel, e))?;
        self.set_mode(rel, mode)
    }

    /// Sets the permission bits of the file or directory `rel` through a handle opened
    /// without following a symlink, so a symlink swapped in is refused, not followed.
    pub fn set_mode(&self, rel: &str, mode: u32) -> Result<()> {
        let file = self.open_nofollow(rel).map_err(|e| {
            if is_symlink_refusal(&e) {
                KernelError::PermissionDenied(format!(
                    "chmod {rel}: it is a symlink now; the journal does not follow it"
                ))
            } else {
                self.err("chmod", rel, e)
            }
        })?;
        set_file_mode(&file, mode).map_err(|e| self.err("chmod", rel, e))
    }

    /// Removes `rel` if it is a file, a symlink (the link itself) or an empty directory. A
    /// directory that still holds entries is left in place and reported by `false`.
    pub fn remove(&self, rel: &str) -> Result<bool> {
        let is_dir = match self.is_dir(rel)? {
            None => return Ok(true),
            Some(is_dir) => is_dir,
        };
        let result = if is_dir {
            self.dir.remove_dir(rel)
        } else {
            self.dir.remove_file(rel)
        };
        match result {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
            Err(_) if is_dir && !self.list(rel)?.is_empty() => Ok(false),
            Err(e) => Err(self.err("remove", rel, e)),
        }
    }

    /// The entries of the directory `rel` (not through a final symlink): name and whether
    /// it is a directory.
    pub fn list(&self, rel: &str) -> Result<Vec<(String, bool)>> {
        use cap_fs_ext::DirExt;
        let dir = self
            .dir
            .open_dir_nofollow(rel)
            .map_err(|e| self.err("list", rel, e))?;
        let mut out = Vec::new();
        for entry in dir.entries().map_err(|e| self.err("list", rel, e))? {
            let entry = entry.map_err(|e| self.err("list", rel, e))?;
            let name = entry.file_name();
            let name = name
                .to_str()
                .ok_or_else(|| KernelError::invalid(format!("a name in {rel} is not UTF-8")))?
                .to_string();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            out.push((name, is_dir));
        }
        Ok(out)
    }
}

#[cfg(unix)]
fn libc_nonblock() -> i32 {
    rustix::fs::OFlags::NONBLOCK.bits() as i32
}

fn set_file_mode(file: &std::fs::File, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))
    }
    #[cfg(not(unix))]
    {
        let _ = (file, mode);
        Ok(())
    }
}

/// Whether `e` is the refusal to open a symlink with `O_NOFOLLOW` (`ELOOP`).
fn is_symlink_refusal(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// Whether `e` is cap-std's refusal of a path that would leave the root (`EXDEV` from
/// `RESOLVE_BENEATH`, or its own "a path led outside of the filesystem" error).
fn is_escape(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    if e.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) {
        return true;
    }
    e.to_string().contains("outside of the filesystem")
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
