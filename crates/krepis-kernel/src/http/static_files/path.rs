//! From a request path to a file inside a mount's root, refusing every way out of it.
//!
//! The request path is split into segments before percent-decoding, so an encoded `%2f`
//! can never create a separator; decoded segments that are empty (`//`, an absolute path),
//! `.`, `..` (also as `%2e%2e`) or that hold `/`, `\` or NUL are refused. What survives is
//! joined segment by segment into a path relative to the root. Opening it ([`Root::open`])
//! resolves symlinks inside the kernel: `openat2` with `RESOLVE_BENEATH` refuses any way
//! out in the same system call; where that cannot decide (no `openat2`, or an absolute
//! symlink) the opened file's real path is checked instead. Neither can be fooled by a
//! rename between check and use.

use std::ffi::{CString, OsStr};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;

/// Why a request path was refused before touching the file system.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused;

/// The path a request names, relative to the mount's root (`rest` is what follows the
/// mount prefix, still percent-encoded: empty or starting with `/`; the root itself is
/// `.`). Returns the path and whether the request named a directory (a trailing `/`).
pub fn resolve(rest: &str) -> Result<(PathBuf, bool), Refused> {
    let Some(inner) = rest.strip_prefix('/') else {
        return if rest.is_empty() {
            Ok((PathBuf::from("."), false))
        } else {
            Err(Refused)
        };
    };
    let mut path = PathBuf::from(".");
    let segments: Vec<&str> = inner.split('/').collect();
    let last = segments.len() - 1;
    for (i, raw) in segments.into_iter().enumerate() {
        if raw.is_empty() {
            if i == last {
                return Ok((path, true));
            }
            return Err(Refused);
        }
        let decoded: Vec<u8> = percent_decode_str(raw).collect();
        if decoded == b"."
            || decoded == b".."
            || decoded.iter().any(|b| matches!(b, b'/' | b'\\' | 0))
        {
            return Err(Refused);
        }
        path.push(OsStr::from_bytes(&decoded));
    }
    Ok((path, false))
}

/// A mount's directory, held open so files are opened relative to it.
#[derive(Debug)]
pub struct Root {
    path: PathBuf,
    dir: File,
}

impl Root {
    /// Opens the directory at `path`, which must be canonical.
    pub fn new(path: PathBuf) -> io::Result<Self> {
        let dir = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(&path)?;
        Ok(Self { path, dir })
    }

    /// Opens `rel` (from [`resolve`]) for reading if it exists and really lies under the
    /// root, symlinks resolved; `None` when it does not exist or leads out. Never blocks
    /// on a FIFO.
    pub fn open(&self, rel: &Path) -> io::Result<Option<File>> {
        let fast = self.open_beneath(rel);
        let err = match fast {
            Ok(file) => return Ok(Some(file)),
            Err(e) => e,
        };
        match err.raw_os_error() {
            Some(libc::ENOENT | libc::ENOTDIR) => Ok(None),
            Some(libc::EACCES) => Err(err),
            // EXDEV (the way leads out, or through an absolute symlink), ENOSYS, EPERM
            // (a seccomp filter) or anything else: decide on the real path instead.
            _ => self.open_checked(rel),
        }
    }

    fn open_beneath(&self, rel: &Path) -> io::Result<File> {
        let name = CString::new(rel.as_os_str().as_bytes())?;
        // SAFETY: zero is a valid value for every field of this plain C struct.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC) as u64;
        how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
        // SAFETY: the pointers are valid for the call; a non-negative result is a new file
        // descriptor that nothing else owns.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                self.dir.as_raw_fd(),
                name.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: see above; the descriptor fits an i32 as every descriptor does.
        Ok(unsafe { File::from_raw_fd(fd as i32) })
    }

    fn open_checked(&self, rel: &Path) -> io::Result<Option<File>> {
        let path = self.path.join(rel);
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let real = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
            .or_else(|_| std::fs::canonicalize(&path));
        Ok(real
            .is_ok_and(|real| real.starts_with(&self.path))
            .then_some(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_stay_relative_to_the_root() {
        let root = Path::new(".");
        assert_eq!(resolve("/a/b.txt"), Ok((root.join("a/b.txt"), false)));
        assert_eq!(resolve("/dir/"), Ok((root.join("dir"), true)));
        assert_eq!(resolve(""), Ok((root.to_path_buf(), false)));
        assert_eq!(resolve("/"), Ok((root.to_path_buf(), true)));
        assert_eq!(
            resolve("/with%20space.txt"),
            Ok((root.join("with space.txt"), false))
        );
    }

    #[test]
    fn symlinks_open_only_when_they_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        let www = base.join("www");
        std::fs::create_dir(&www).unwrap();
        std::fs::write(www.join("in.txt"), "in").unwrap();
        std::fs::write(base.join("secret"), "out").unwrap();
        std::os::unix::fs::symlink(base.join("secret"), www.join("abs-out")).unwrap();
        std::os::unix::fs::symlink("../secret", www.join("rel-out")).unwrap();
        std::os::unix::fs::symlink(www.join("in.txt"), www.join("abs-in")).unwrap();
        std::os::unix::fs::symlink("in.txt", www.join("rel-in")).unwrap();
        let root = Root::new(www).unwrap();
        for inside in ["in.txt", "abs-in", "rel-in"] {
            assert!(root.open(Path::new(inside)).unwrap().is_some(), "{inside}");
        }
        for outside in ["abs-out", "rel-out", "missing"] {
            assert!(
                root.open(Path::new(outside)).unwrap().is_none(),
                "{outside}"
            );
        }
    }

    #[test]
    fn every_way_out_is_refused() {
        for bad in [
            "/../etc/passwd",
            "/a/../../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/%2E%2E/etc/passwd",
            "/.%2e/etc/passwd",
            "/a%2f..%2f..%2fetc/passwd",
            "/a%2F..%2F..%2Fetc%2Fpasswd",
            "/..%5c..%5cetc",
            "//etc/passwd",
            "/a//b",
            "/./a",
            "/a%00.txt",
            "x",
        ] {
            assert_eq!(resolve(bad), Err(Refused), "{bad}");
        }
    }
}
