//! Reading a plugin directory: every regular file, read once into memory, so the bytes that
//! are hashed are the bytes that are verified and later run.

use std::fs;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::signature::SIGNATURE_FILE;
use crate::{KernelError, Result};

/// Most files a plugin may have.
pub const MAX_FILES: usize = 10_000;
/// Most bytes all files of a plugin may have together.
pub const MAX_TOTAL_BYTES: u64 = 64 * 1024 * 1024;

/// One file of a plugin: its path relative to the plugin root (`/` separated) and content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginFile {
    /// Relative path, `/` separated.
    pub path: String,
    /// The content as read.
    pub bytes: Vec<u8>,
}

impl PluginFile {
    /// SHA-256 of the content, lowercase hex.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.bytes))
    }
}

/// Reads every file under `dir` except the signature file, sorted by path. Symbolic links and
/// special files are refused (they could make the signed tree differ from what runs).
pub fn read_tree(dir: &Path) -> Result<Vec<PluginFile>> {
    let meta =
        fs::metadata(dir).map_err(|e| KernelError::io(format!("open {}", dir.display()), e))?;
    if !meta.is_dir() {
        return Err(KernelError::invalid(format!(
            "{} is not a plugin directory",
            dir.display()
        )));
    }
    let mut files = Vec::new();
    let mut total = 0u64;
    walk(dir, "", &mut files, &mut total)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<PluginFile>, total: &mut u64) -> Result<()> {
    let entries =
        fs::read_dir(dir).map_err(|e| KernelError::io(format!("list {}", dir.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| KernelError::io(format!("list {}", dir.display()), e))?;
        let name = entry.file_name();
        let name = name
            .to_str()
            .filter(|n| !n.contains(['\n', '\\']))
            .ok_or_else(|| {
                KernelError::invalid(format!(
                    "{}: file names must be UTF-8 without newlines or backslashes",
                    entry.path().display()
                ))
            })?;
        let rel = format!("{prefix}{name}");
        if rel == SIGNATURE_FILE {
            continue;
        }
        let kind = entry
            .file_type()
            .map_err(|e| KernelError::io(format!("stat {}", entry.path().display()), e))?;
        if kind.is_dir() {
            walk(&entry.path(), &format!("{rel}/"), out, total)?;
        } else if kind.is_file() {
            if out.len() >= MAX_FILES {
                return Err(KernelError::LimitExceeded(format!(
                    "a plugin may have at most {MAX_FILES} files"
                )));
            }
            let bytes = fs::read(entry.path())
                .map_err(|e| KernelError::io(format!("read {}", entry.path().display()), e))?;
            *total += bytes.len() as u64;
            if *total > MAX_TOTAL_BYTES {
                return Err(KernelError::LimitExceeded(format!(
                    "a plugin may have at most {MAX_TOTAL_BYTES} bytes of files"
                )));
            }
            out.push(PluginFile { path: rel, bytes });
        } else {
            return Err(KernelError::invalid(format!(
                "{rel}: plugins may contain only regular files and directories (no symbolic links)"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_sorted_and_nested_and_the_signature_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("src")).unwrap();
        fs::write(dir.path().join("src/b.ts"), "b").unwrap();
        fs::write(dir.path().join("a.ts"), "a").unwrap();
        fs::write(dir.path().join(SIGNATURE_FILE), "sig").unwrap();
        let files = read_tree(dir.path()).unwrap();
        let paths: Vec<_> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a.ts", "src/b.ts"]);
        assert_eq!(
            files[0].sha256(),
            "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
        );
    }

    #[test]
    fn symbolic_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("passwd")).unwrap();
        let e = read_tree(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("passwd: plugins may contain only regular files"),
            "{e}"
        );
    }
}
