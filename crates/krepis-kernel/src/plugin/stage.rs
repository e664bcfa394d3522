//! Copying verified bytes into a private directory, so the code that runs is exactly the code
//! that was verified even if the plugin directory changes afterwards.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::tree::PluginFile;
use crate::{KernelError, Result};

/// Writes `files` into `dest`, which must be an existing, empty, real directory (not a
/// symbolic link). Files are created exclusively (nothing already there is followed or
/// overwritten) and left read-only (0400).
pub fn stage(files: &[PluginFile], dest: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(dest)
        .map_err(|e| KernelError::io(format!("open {}", dest.display()), e))?;
    if !meta.is_dir() {
        return Err(KernelError::invalid(format!(
            "{} is not a directory",
            dest.display()
        )));
    }
    let mut entries =
        fs::read_dir(dest).map_err(|e| KernelError::io(format!("list {}", dest.display()), e))?;
    if entries.next().is_some() {
        return Err(KernelError::invalid(format!(
            "{} is not empty; plugins are staged into a fresh private directory",
            dest.display()
        )));
    }
    for file in files {
        let path = dest.join(&file.path);
        let context = || format!("stage {}", path.display());
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| KernelError::io(context(), e))?;
        }
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o400)
            .open(&path)
            .map_err(|e| KernelError::io(context(), e))?;
        out.write_all(&file.bytes)
            .map_err(|e| KernelError::io(context(), e))?;
    }
    Ok(())
}
