//! File watching for the supervisor: a debounced `notify` watcher whose
//! events are reduced to "TypeScript changed" / "Rust changed".

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use crate::error::{CliError, Result};

/// How long the watcher waits for a burst of writes (an editor's save, a
/// `git checkout`) to settle before reporting it.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// What kind of source changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// TypeScript/JavaScript sources or Deno configuration changed.
    pub ts: bool,
    /// Rust sources or Cargo manifests changed.
    pub rust: bool,
    /// Some of the TypeScript changes lie outside the app's own directories
    /// (e.g. `@krepis/core` in a checkout).
    pub outside: bool,
}

impl Change {
    /// Whether anything changed.
    pub fn any(self) -> bool {
        self.ts || self.rust
    }

    /// The union of two changes.
    pub fn merge(self, other: Change) -> Change {
        Change {
            ts: self.ts || other.ts,
            rust: self.rust || other.rust,
            outside: self.outside || other.outside,
        }
    }
}

/// Directories whose contents never trigger a reload.
const IGNORED_DIRS: &[&str] = &["target", ".git", ".krepis", "node_modules", "coverage"];

/// Whether `path` lies in a directory that never triggers a reload.
pub fn ignored(path: &Path) -> bool {
    path.components().any(|c| {
        c.as_os_str()
            .to_str()
            .is_some_and(|s| IGNORED_DIRS.contains(&s))
    })
}

/// Classifies one changed path, given relative to the watched directory (so
/// that a checkout living under, say, `~/target/` is not ignored whole).
pub fn classify(path: &Path) -> Change {
    if ignored(path) {
        return Change::default();
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    Change {
        ts: matches!(ext, "ts" | "tsx" | "mts" | "js" | "jsx" | "mjs")
            || matches!(name, "deno.json" | "deno.jsonc"),
        rust: ext == "rs" || matches!(name, "Cargo.toml" | "build.rs") || ext == "proto",
        outside: false,
    }
}

/// A running watcher; dropping it stops watching.
pub struct Watcher {
    debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
}

impl Watcher {
    /// Watches `dirs` recursively and sends a [`Change`] for every debounced
    /// burst that touched a relevant file; TypeScript outside `app_dirs` sets
    /// [`Change::outside`]. `wrap` turns the change into the caller's event type.
    pub fn start<E: Send + 'static>(
        dirs: &[PathBuf],
        app_dirs: Vec<PathBuf>,
        events: Sender<E>,
        wrap: fn(Change) -> E,
    ) -> Result<Self> {
        let roots = dirs.to_vec();
        let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
            let Ok(batch) = result else { return };
            let change = batch
                .iter()
                .filter(|e| !matches!(e.kind, EventKind::Access(_)))
                .flat_map(|e| e.paths.iter())
                .map(|p| {
                    // Paths outside the recursive roots are files directly
                    // in a shallow-watched directory: their name is enough.
                    let relative = roots
                        .iter()
                        .find_map(|d| p.strip_prefix(d).ok())
                        .or_else(|| p.file_name().map(Path::new))
                        .unwrap_or(p);
                    let mut change = classify(relative);
                    change.outside = change.ts && !app_dirs.iter().any(|d| p.starts_with(d));
                    change
                })
                .fold(Change::default(), Change::merge);
            if change.any() {
                // The receiver is gone only while the supervisor shuts down.
                let _ = events.send(wrap(change));
            }
        })
        .map_err(|e| CliError::Failed(format!("cannot start the file watcher: {e}")))?;
        for dir in dirs {
            debouncer
                .watch(dir, RecursiveMode::Recursive)
                .map_err(|e| CliError::Failed(format!("cannot watch {}: {e}", dir.display())))?;
        }
        Ok(Self { debouncer })
    }

    /// Also watches the files directly in `dir`, not its subdirectories: a
    /// workspace root, whose manifests (`Cargo.toml`, `deno.json`) matter but
    /// whose `target/` is too big to watch.
    pub fn watch_shallow(&mut self, dir: &Path) -> Result<()> {
        self.debouncer
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(|e| CliError::Failed(format!("cannot watch {}: {e}", dir.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn classifies_paths() {
        let ts = Change {
            ts: true,
            ..Change::default()
        };
        let rust = Change {
            rust: true,
            ..Change::default()
        };
        assert_eq!(classify(Path::new("/a/src/main.ts")), ts);
        assert_eq!(classify(Path::new("/a/deno.json")), ts);
        assert_eq!(classify(Path::new("/a/crates/k/src/lib.rs")), rust);
        assert_eq!(classify(Path::new("/a/crates/k/Cargo.toml")), rust);
        assert_eq!(
            classify(Path::new("/a/target/debug/build/x.rs")),
            Change::default()
        );
        assert_eq!(classify(Path::new("/a/README.md")), Change::default());
        assert_eq!(classify(Path::new("/a/.git/index")), Change::default());
    }

    #[test]
    fn reports_a_real_file_change_once_debounced() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app");
        let lib = dir.path().join("lib");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::create_dir_all(&lib).unwrap();
        let (tx, rx) = mpsc::channel();
        let _watcher =
            Watcher::start(&[app.clone(), lib.clone()], vec![app.clone()], tx, |c| c).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        std::fs::write(app.join("notes.md"), "ignored").unwrap();
        std::fs::write(app.join("main.ts"), "console.log(1)").unwrap();
        let change = rx.recv_timeout(Duration::from_secs(5)).expect("a change");
        assert!(change.ts && !change.rust && !change.outside, "{change:?}");
        std::fs::write(lib.join("core.ts"), "export {};").unwrap();
        // On a loaded machine the events of one write can straddle a debounce window, so
        // a late batch from the app may come first: skip those, then the one from lib.
        let change = loop {
            let change = rx.recv_timeout(Duration::from_secs(5)).expect("a change");
            if change.outside {
                break change;
            }
            assert!(change.ts && !change.rust, "{change:?}");
        };
        assert!(change.ts && change.outside, "{change:?}");
    }

    #[test]
    fn an_ignored_name_above_the_watched_directory_does_not_hide_changes() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("target/app");
        std::fs::create_dir_all(app.join("target")).unwrap();
        let (tx, rx) = mpsc::channel();
        let _watcher =
            Watcher::start(std::slice::from_ref(&app), vec![app.clone()], tx, |c| c).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        std::fs::write(app.join("target/build.rs"), "fn main() {}").unwrap();
        std::fs::write(app.join("main.ts"), "console.log(1)").unwrap();
        let change = rx.recv_timeout(Duration::from_secs(5)).expect("a change");
        assert_eq!(
            change,
            Change {
                ts: true,
                ..Change::default()
            },
            "main.ts counts, the app's own target/ still does not"
        );
    }
}
