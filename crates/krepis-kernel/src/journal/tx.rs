//! A transaction: file operations recorded before they are applied.
//!
//! Operations are *staged* (validated, prior state captured, new content written to a
//! temporary file) and then *flushed*: the entries go to sled and are made durable with one
//! flush, and only then are the changes applied, each atomically (rename). Staging many
//! operations before one flush turns N fsyncs into one; the TypeScript API flushes once per
//! turn of the event loop, so `await tx.writeFile(...)` still means "it is on disk".

use std::collections::HashMap;

use super::path::RootPath;
use super::session::{Idle, Session};
use super::state::{self, PathState};
use super::store::{Entry, TxRecord, TxState};
use crate::{KernelError, Result};

/// Default permission bits of a new file.
pub const DEFAULT_FILE_MODE: u32 = 0o644;
/// Default permission bits of a new directory.
pub const DEFAULT_DIR_MODE: u32 = 0o755;

/// What a path must hold for [`Transaction::write_checked`] to go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect<'a> {
    /// Nothing exists at the path.
    Absent,
    /// A regular file whose content has this lower-case hex SHA-256.
    Sha256(&'a str),
}

/// How a staged entry is applied once its record is durable.
enum Apply {
    /// Nothing to do here; a sibling entry applies the change (the source of a rename).
    Nothing,
    /// Write the content stored under `hash` with `mode` (see [`Session::put_file`]).
    Write {
        hash: String,
        mode: u32,
        fresh: bool,
    },
    /// Create the directory with this mode.
    CreateDir(u32),
    /// Remove the file or empty directory.
    Remove,
    /// Rename this file (relative to the root) into place.
    MoveFrom(String),
    /// Change the permission bits.
    Chmod(u32),
}

/// An open transaction. Dropping it without [`Transaction::commit`] rolls it back.
pub struct Transaction {
    /// Always `Some` until dropped, when a cleanly finished session is parked for reuse.
    session: Option<Session>,
    /// Where the session goes when the transaction is done (`None`: it is closed).
    idle: Option<Idle>,
    /// Committed or rolled back without error: the session may be reused as it is.
    clean: bool,
    record: TxRecord,
    next_seq: u32,
    /// The state each touched path has once every staged operation is applied.
    planned: HashMap<String, PathState>,
    staged: Vec<Staged>,
    keep: usize,
    finished: bool,
}

impl Transaction {
    pub(super) fn begin(
        session: Session,
        idle: Option<Idle>,
        label: &str,
        keep: usize,
    ) -> Result<Self> {
        let record = TxRecord {
            id: session.store.next_id()?,
            label: label.to_string(),
            started_ms: now_ms(),
            committed_ms: None,
            state: TxState::Pending,
        };
        // Not flushed: nothing is applied before the first flush, which carries it along.
        session.store.put_tx(&record)?;
        Ok(Self {
            session: Some(session),
            idle,
            clean: false,
            record,
            next_seq: 0,
            planned: HashMap::new(),
            staged: Vec::new(),
            keep,
            finished: false,
        })
    }

    fn session(&self) -> &Session {
        self.session
            .as_ref()
            .expect("a live transaction has its session")
    }

    /// This transaction's id.
    pub fn id(&self) -> u64 {
        self.record.id
    }

    /// Writes `content` to `path` (creating missing parent directories), with `mode` or,
    /// when `None`, the existing file's mode or [`DEFAULT_FILE_MODE`].
    pub fn write(&mut self, path: &str, content: &[u8], mode: Option<u32>) -> Result<()> {
        let target = self.session().resolve(path)?;
        let before = self.state_of(&target)?;
        let mode = match (&before, mode) {
            (PathState::Dir { .. }, _) => {
                return Err(KernelError::invalid(format!(
                    "{} is a directory",
                    target.rel
                )));
            }
            (_, Some(mode)) => mode & 0o7777,
            (PathState::File { mode, .. }, None) => *mode,
            (PathState::Absent, None) => DEFAULT_FILE_MODE,
        };
        self.ensure_parents(&target)?;
        let hash = state::hash_hex(content);
        self.session().store.put_blob(&hash, content)?;
        let after = PathState::File {
            hash: hash.clone(),
            mode,
            size: content.len() as u64,
        };
        let fresh = before == PathState::Absent;
        self.stage(&target, before, after, Apply::Write { hash, mode, fresh });
        Ok(())
    }

    /// [`Transaction::write`], but only if `path` still is what the caller read before
    /// deciding on `content`: otherwise a [`KernelError::Conflict`] naming the path, and
    /// nothing is staged. The check and the write happen under the journal's lock, so two
    /// writers planning against the same content cannot both succeed.
    pub fn write_checked(
        &mut self,
        path: &str,
        content: &[u8],
        mode: Option<u32>,
        expect: Expect<'_>,
    ) -> Result<()> {
        let target = self.session().resolve(path)?;
        let found = self.state_of(&target)?;
        let unchanged = match (&expect, &found) {
            (Expect::Absent, PathState::Absent) => true,
            (Expect::Sha256(want), PathState::File { hash, .. }) => hash == want,
            _ => false,
        };
        if !unchanged {
            let now = match (&expect, &found) {
                (_, PathState::Absent) => "it no longer exists",
                (Expect::Absent, _) => "it exists now",
                _ => "its content is different now",
            };
            return Err(KernelError::Conflict(format!(
                "{} changed since it was read ({now})",
                target.rel
            )));
        }
        self.write(path, content, mode)
    }

    /// Creates directory `path`; with `recursive`, missing parents too and no error when it
    /// exists already.
    pub fn mkdir(&mut self, path: &str, recursive: bool, mode: Option<u32>) -> Result<()> {
        let target = self.session().resolve(path)?;
        let before = self.state_of(&target)?;
        match before {
            PathState::Dir { .. } if recursive => return Ok(()),
            PathState::Absent => {}
            _ => {
                return Err(KernelError::AlreadyExists(format!(
                    "{} exists ({})",
                    target.rel,
                    before.describe()
                )));
            }
        }
        if recursive {
            self.ensure_parents(&target)?;
        } else if let Some(parent) = parent_of(&target.rel) {
            let parent = self.session().resolve(parent)?;
            if !matches!(self.state_of(&parent)?, PathState::Dir { .. }) {
                return Err(KernelError::NotFound(format!(
                    "parent directory {} of {} does not exist",
                    parent.rel, target.rel
                )));
            }
        }
        let mode = mode.unwrap_or(DEFAULT_DIR_MODE) & 0o7777;
        self.stage(
            &target,
            PathState::Absent,
            PathState::Dir { mode },
            Apply::CreateDir(mode),
        );
        Ok(())
    }

    /// Removes the file or directory `path`; a non-empty directory only with `recursive`.
    pub fn remove(&mut self, path: &str, recursive: bool) -> Result<()> {
        let target = self.session().resolve(path)?;
        match self.state_of(&target)? {
            PathState::Absent => Err(KernelError::NotFound(format!(
                "{} does not exist",
                target.rel
            ))),
            before @ PathState::File { .. } => {
                self.stage(&target, before, PathState::Absent, Apply::Remove);
                Ok(())
            }
            PathState::Dir { .. } => {
                // Children may only exist as staged operations: apply them to list the disk.
                self.flush()?;
                let mut children = Vec::new();
                list_tree(&self.session().fs, &target.rel, &mut children)?;
                if !children.is_empty() && !recursive {
                    return Err(KernelError::invalid(format!(
                        "directory {} is not empty (remove it recursively)",
                        target.rel
                    )));
                }
                // Deepest first, so every directory is empty when its turn comes.
                children.sort_by_key(|rel| std::cmp::Reverse(rel.matches('/').count()));
                children.push(target.rel.clone());
                for rel in children {
                    let child = self.session().resolve(&rel)?;
                    let before = self.state_of(&child)?;
                    self.stage(&child, before, PathState::Absent, Apply::Remove);
                }
                Ok(())
            }
        }
    }

    /// Renames the file `from` to `to`, replacing a file at `to`.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<()> {
        let source = self.session().resolve(from)?;
        let target = self.session().resolve(to)?;
        let moved = self.state_of(&source)?;
        match moved {
            PathState::File { .. } => {}
            PathState::Absent => {
                return Err(KernelError::NotFound(format!(
                    "{} does not exist",
                    source.rel
                )));
            }
            PathState::Dir { .. } => {
                return Err(KernelError::Unsupported(format!(
                    "renaming directory {}: the journal renames files; move them one by one",
                    source.rel
                )));
            }
        }
        if source.rel == target.rel {
            return Ok(());
        }
        let replaced = self.state_of(&target)?;
        if let PathState::Dir { .. } = replaced {
            return Err(KernelError::invalid(format!(
                "{} is a directory",
                target.rel
            )));
        }
        self.ensure_parents(&target)?;
        let from = source.rel.clone();
        self.stage(&source, moved.clone(), PathState::Absent, Apply::Nothing);
        self.stage(&target, replaced, moved, Apply::MoveFrom(from));
        Ok(())
    }

    /// Sets the permission bits of the file or directory `path`.
    pub fn chmod(&mut self, path: &str, mode: u32) -> Result<()> {
        let target = self.session().resolve(path)?;
        let mode = mode & 0o7777;
        let before = self.state_of(&target)?;
        let after = match &before {
            PathState::Absent => {
                return Err(KernelError::NotFound(format!(
                    "{} does not exist",
                    target.rel
                )));
            }
            PathState::Dir { .. } => PathState::Dir { mode },
            PathState::File { hash, size, .. } => PathState::File {
                hash: hash.clone(),
                mode,
                size: *size,
            },
        };
        self.stage(&target, before, after, Apply::Chmod(mode));
        Ok(())
    }

    /// Records every staged operation durably, then applies them.
    pub fn flush(&mut self) -> Result<()> {
        if self.staged.is_empty() {
            return Ok(());
        }
        let staged = std::mem::take(&mut self.staged);
        let store = &self.session.as_ref().expect("live transaction").store;
        for (entry, _) in &staged {
            store.put_entry(self.record.id, self.next_seq, entry)?;
            self.next_seq += 1;
        }
        self.session().store.flush()?;
        let mut rest = staged.as_slice();
        while !rest.is_empty() {
            let writes = independent_writes(rest);
            if writes > 1 {
                write_parallel(self.session(), &rest[..writes])?;
                rest = &rest[writes..];
            } else {
                apply_one(self.session(), &rest[0].1, &rest[0].0.path)?;
                rest = &rest[1..];
            }
        }
        Ok(())
    }

    /// Applies what is staged and marks the transaction done; it joins the history (an
    /// empty transaction leaves no trace). Committing discards the redo stack.
    pub fn commit(mut self) -> Result<u64> {
        self.flush()?;
        self.finished = true;
        let id = self.record_commit()?;
        self.clean = true;
        Ok(id)
    }

    fn record_commit(&mut self) -> Result<u64> {
        let store = &self.session.as_ref().expect("live transaction").store;
        if self.next_seq == 0 {
            store.delete_tx(self.record.id)?;
            store.flush()?;
            return Ok(self.record.id);
        }
        let txs = store.txs()?;
        let mut dropped = 0;
        for old in &txs {
            if old.state == TxState::Undone {
                store.delete_tx(old.id)?;
                dropped += 1;
            }
        }
        self.record.state = TxState::Committed;
        self.record.committed_ms = Some(now_ms());
        store.put_tx(&self.record)?;
        store.note_committed(self.record.id)?;
        store.flush()?;
        let committed: Vec<_> = txs
            .iter()
            .filter(|t| t.state == TxState::Committed)
            .collect();
        let excess = (committed.len() + 1).saturating_sub(self.keep);
        for old in committed.into_iter().take(excess) {
            store.delete_tx(old.id)?;
            dropped += 1;
        }
        if dropped > 0 {
            store.maybe_gc()?;
            store.flush()?;
        }
        Ok(self.record.id)
    }

    /// Undoes every applied operation and forgets the transaction.
    pub fn rollback(mut self) -> Result<()> {
        self.finished = true;
        let result = self.rollback_inner();
        self.clean = result.is_ok();
        result
    }

    fn rollback_inner(&mut self) -> Result<()> {
        // Staged operations were never applied; only recorded entries need reverting.
        self.staged.clear();
        let session = self.session.as_ref().expect("live transaction");
        let store = &session.store;
        session.revert(&store.entries(self.record.id)?)?;
        store.delete_tx(self.record.id)?;
        store.maybe_gc()?;
        store.flush()
    }

    /// The paths touched so far, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut files: Vec<String> = self.planned.keys().cloned().collect();
        files.sort();
        files
    }

    fn state_of(&mut self, target: &RootPath) -> Result<PathState> {
        if let Some(state) = self.planned.get(&target.rel) {
            return Ok(state.clone());
        }
        let (state, content) = self.session().fs.capture(&target.rel)?;
        if let (PathState::File { hash, .. }, Some(content)) = (&state, content) {
            self.session().store.put_blob(hash, &content)?;
        }
        Ok(state)
    }

    fn ensure_parents(&mut self, target: &RootPath) -> Result<()> {
        let mut missing = Vec::new();
        let mut rel = parent_of(&target.rel);
        while let Some(dir) = rel {
            if !self.planned.contains_key(dir) && self.session().known_dir(dir) {
                break;
            }
            let parent = self.session().resolve(dir)?;
            match self.state_of(&parent)? {
                PathState::Dir { .. } => break,
                PathState::Absent => missing.push(parent),
                PathState::File { .. } => {
                    return Err(KernelError::invalid(format!(
                        "cannot create {}: {} is a file",
                        target.rel, parent.rel
                    )));
                }
            }
            rel = parent_of(dir);
        }
        for dir in missing.into_iter().rev() {
            self.stage(
                &dir,
                PathState::Absent,
                PathState::Dir {
                    mode: DEFAULT_DIR_MODE,
                },
                Apply::CreateDir(DEFAULT_DIR_MODE),
            );
        }
        Ok(())
    }

    fn stage(&mut self, target: &RootPath, before: PathState, after: PathState, apply: Apply) {
        // Planned states take precedence; a directory going away must not stay "known".
        if !matches!(after, PathState::Dir { .. }) {
            self.session().note_dir(&target.rel, false);
        }
        self.planned.insert(target.rel.clone(), after.clone());
        let entry = Entry {
            path: target.rel.clone(),
            before,
            after,
        };
        self.staged.push((entry, apply));
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if !self.finished {
            self.finished = true;
            // If this fails, the session is closed and the next one's recovery rolls back.
            self.clean = self.rollback_inner().is_ok();
        }
        if let (Some(session), Some(idle), true) = (self.session.take(), &self.idle, self.clean) {
            idle.park(session);
        }
    }
}

/// Staged operations, each with its entry (whose path is the one to change).
type Staged = (Entry, Apply);

/// How many leading operations of `staged` are content writes to distinct paths: those can
/// be applied in any order, so in parallel.
fn independent_writes(staged: &[Staged]) -> usize {
    let mut paths = std::collections::HashSet::new();
    staged
        .iter()
        .take_while(|(entry, apply)| {
            matches!(apply, Apply::Write { .. }) && paths.insert(entry.path.as_str())
        })
        .count()
}

/// Applies independent writes on a few threads: creating files is latency-bound, and the
/// file system overlaps them well.
fn write_parallel(session: &Session, writes: &[Staged]) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(2, 4) * 2);
    let chunk = writes.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = writes
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .try_for_each(|(entry, apply)| apply_one(session, apply, &entry.path))
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .map_err(|_| KernelError::Internal("journal writer panicked".into()))?
        })
    })
}

/// Applies one staged operation to `rel`, resolved beneath the root in the same call.
fn apply_one(session: &Session, apply: &Apply, rel: &str) -> Result<()> {
    match apply {
        Apply::Nothing => Ok(()),
        Apply::Write { hash, mode, fresh } => {
            let content = session.store.blob(hash)?;
            session.put_file(rel, &content, *mode, *fresh)
        }
        Apply::CreateDir(mode) => session.fs.create_dir(rel, *mode),
        Apply::Remove => session.fs.remove(rel).map(drop),
        Apply::MoveFrom(from) => session.fs.rename(from, rel),
        Apply::Chmod(mode) => session.fs.set_mode(rel, *mode),
    }
}

/// Every path under the directory `rel`, parents before children.
fn list_tree(fs: &super::path::Beneath, rel: &str, out: &mut Vec<String>) -> Result<()> {
    for (name, is_dir) in fs.list(rel)? {
        let child = format!("{rel}/{name}");
        out.push(child.clone());
        if is_dir {
            list_tree(fs, &child, out)?;
        }
    }
    Ok(())
}

fn parent_of(rel: &str) -> Option<&str> {
    rel.rsplit_once('/').map(|(parent, _)| parent)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
