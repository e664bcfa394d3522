//! From a request path to a file inside a mount's root, refusing every way out of it.
//!
//! The request path is split into segments before percent-decoding, so an encoded `%2f`
//! can never create a separator; decoded segments that are empty (`//`, an absolute path),
//! `.`, `..` (also as `%2e%2e`) or that hold `/`, `\` or NUL are refused. What survives is
//! joined under the root segment by segment. Symlinks are checked after opening (see
//! [`inside`]), which no rename between check and use can fool.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;

/// Why a request path was refused before touching the file system.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused;

/// The file system path a request names, relative to the mount (`rest` is what follows the
/// mount prefix, still percent-encoded: empty or starting with `/`). Returns the joined
/// path and whether the request named a directory (a trailing `/`).
pub fn resolve(root: &Path, rest: &str) -> Result<(PathBuf, bool), Refused> {
    let Some(inner) = rest.strip_prefix('/') else {
        return if rest.is_empty() {
            Ok((root.to_path_buf(), false))
        } else {
            Err(Refused)
        };
    };
    let mut path = root.to_path_buf();
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

/// Whether the open `file` (reached through `path`) really lives under `root`, which must be
/// canonical. Asks the kernel for the opened file's real path, so symlinks anywhere on the
/// way are accounted for.
pub fn inside(root: &Path, file: &File, path: &Path) -> bool {
    use std::os::fd::AsRawFd;
    let real = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .or_else(|_| std::fs::canonicalize(path));
    real.is_ok_and(|real| real.starts_with(root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_join_under_the_root() {
        let root = Path::new("/srv");
        assert_eq!(resolve(root, "/a/b.txt"), Ok((root.join("a/b.txt"), false)));
        assert_eq!(resolve(root, "/dir/"), Ok((root.join("dir"), true)));
        assert_eq!(resolve(root, ""), Ok((root.to_path_buf(), false)));
        assert_eq!(resolve(root, "/"), Ok((root.to_path_buf(), true)));
        assert_eq!(
            resolve(root, "/with%20space.txt"),
            Ok((root.join("with space.txt"), false))
        );
    }

    #[test]
    fn every_way_out_is_refused() {
        let root = Path::new("/srv");
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
            assert_eq!(resolve(root, bad), Err(Refused), "{bad}");
        }
    }
}
