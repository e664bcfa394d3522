//! Undo, redo and history over committed transactions.

use serde::Serialize;

use super::session::Session;
use super::state::PathState;
use super::store::{Entry, TxRecord, TxState};
use crate::{KernelError, Result, proto};

/// One transaction as `history` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TxInfo {
    /// Monotonic id.
    pub id: u64,
    /// The caller's label.
    pub label: String,
    /// Commit time, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// True once undone (it can be redone).
    pub undone: bool,
    /// The touched paths, in the order they were first touched.
    pub files: Vec<String>,
}

impl TxInfo {
    fn new(record: &TxRecord, entries: &[Entry]) -> Self {
        let mut seen = std::collections::HashSet::new();
        Self {
            id: record.id,
            label: record.label.clone(),
            time_ms: record.committed_ms.unwrap_or(record.started_ms),
            undone: record.state == TxState::Undone,
            files: entries
                .iter()
                .filter(|e| seen.insert(e.path.as_str()))
                .map(|e| e.path.clone())
                .collect(),
        }
    }
}

/// The history as the Protobuf `JournalHistory` the SDK reads.
pub fn history_message(history: &[TxInfo]) -> proto::JournalHistory {
    proto::JournalHistory {
        transactions: history
            .iter()
            .map(|tx| proto::JournalTx {
                id: tx.id,
                label: tx.label.clone(),
                time_ms: tx.time_ms,
                undone: tx.undone,
                files: tx.files.clone(),
            })
            .collect(),
    }
}

/// Committed and undone transactions, newest first.
pub fn history(session: &Session) -> Result<Vec<TxInfo>> {
    let mut out = Vec::new();
    for record in session.store.txs()?.iter().rev() {
        if matches!(record.state, TxState::Committed | TxState::Undone) {
            out.push(TxInfo::new(record, &session.store.entries(record.id)?));
        }
    }
    Ok(out)
}

/// Which way a step goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Back to the state before the transaction.
    Undo,
    /// Forward to the state after it.
    Redo,
}

/// Undoes the newest `steps` committed transactions, or redoes the oldest `steps` undone
/// ones. Without `force`, a transaction whose files changed outside Krepis since is refused
/// (naming the files) and nothing more is done.
pub fn step(
    session: &Session,
    direction: Direction,
    steps: usize,
    force: bool,
) -> Result<Vec<TxInfo>> {
    if steps == 0 {
        return Err(KernelError::invalid(
            "the number of steps must be at least 1",
        ));
    }
    let txs = session.store.txs()?;
    let (from, via, to, verb) = match direction {
        Direction::Undo => (
            TxState::Committed,
            TxState::Undoing,
            TxState::Undone,
            "undo",
        ),
        Direction::Redo => (
            TxState::Undone,
            TxState::Redoing,
            TxState::Committed,
            "redo",
        ),
    };
    let candidates: Vec<TxRecord> = match direction {
        Direction::Undo => txs.into_iter().rev().filter(|t| t.state == from).collect(),
        Direction::Redo => txs.into_iter().filter(|t| t.state == from).collect(),
    };
    if candidates.len() < steps {
        return Err(KernelError::NotFound(format!(
            "nothing to {verb}: asked for {steps} step(s), {} available",
            candidates.len()
        )));
    }
    let mut done = Vec::new();
    for mut record in candidates.into_iter().take(steps) {
        let entries = session.store.entries(record.id)?;
        if !force {
            let conflicts = conflicts(session, &entries, direction)?;
            if !conflicts.is_empty() {
                return Err(KernelError::Conflict(format!(
                    "cannot {verb} transaction {} ({:?}): changed outside Krepis since: {} (use --force to {verb} anyway)",
                    record.id,
                    record.label,
                    conflicts.join(", ")
                )));
            }
        }
        record.state = via;
        session.store.put_tx(&record)?;
        session.store.flush()?;
        match direction {
            Direction::Undo => session.revert(&entries)?,
            Direction::Redo => session.replay(&entries)?,
        }
        record.state = to;
        session.store.put_tx(&record)?;
        session.store.flush()?;
        done.push(TxInfo::new(&record, &entries));
    }
    Ok(done)
}

/// Paths whose current state is not what the transaction left (undo) or found (redo).
fn conflicts(session: &Session, entries: &[Entry], direction: Direction) -> Result<Vec<String>> {
    let mut expected: Vec<(&str, &PathState)> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for entry in entries {
        let state = match direction {
            Direction::Undo => &entry.after,
            Direction::Redo => &entry.before,
        };
        match index.get(entry.path.as_str()) {
            Some(&i) if direction == Direction::Undo => expected[i] = (entry.path.as_str(), state),
            Some(_) => {}
            None => {
                index.insert(entry.path.as_str(), expected.len());
                expected.push((entry.path.as_str(), state));
            }
        }
    }
    let mut out = Vec::new();
    for (rel, want) in expected {
        let found = match session.fs.capture(rel) {
            Ok((found, _)) => found,
            Err(e) => {
                out.push(format!("{rel} ({e})"));
                continue;
            }
        };
        if !want.matches(&found) {
            out.push(format!("{rel} ({})", want.difference(&found)));
        } else if let PathState::Dir { .. } = found {
            // A directory this step removes must not hold files the transaction never saw.
            let goes = match direction {
                Direction::Undo => entries.iter().find(|e| e.path == rel).map(|e| &e.before),
                Direction::Redo => entries
                    .iter()
                    .rev()
                    .find(|e| e.path == rel)
                    .map(|e| &e.after),
            };
            if goes == Some(&PathState::Absent) {
                let extra = session
                    .fs
                    .list(rel)?
                    .into_iter()
                    .map(|(name, _)| format!("{rel}/{name}"))
                    .find(|child| !index.contains_key(child.as_str()));
                if let Some(child) = extra {
                    out.push(format!("{rel} (now holds {child})"));
                }
            }
        }
    }
    Ok(out)
}
