//! The transactional file system: journals and their transactions.

use std::time::Duration;

use krepis_ffi_macros::export;
use krepis_kernel::journal::{Journal, JournalOptions, Transaction};
use krepis_kernel::{Handle, HandleKind, HandleTable, KernelError, Result};
use parking_lot::Mutex;

use crate::guard;

static JOURNALS: HandleTable<Journal> = HandleTable::new(HandleKind::Journal);
static TXS: HandleTable<Mutex<Option<Transaction>>> = HandleTable::new(HandleKind::Transaction);

/// `-1` means "not given"; anything else must be valid permission bits.
fn mode(raw: i64) -> Result<Option<u32>> {
    match raw {
        -1 => Ok(None),
        0..=0o7777 => Ok(Some(raw as u32)),
        _ => Err(KernelError::invalid(format!(
            "mode {raw:#o} is not 0..=0o7777"
        ))),
    }
}

fn with_tx<R>(tx: u64, f: impl FnOnce(&mut Transaction) -> Result<R>) -> Result<R> {
    let slot = TXS.get(Handle::from_raw(tx))?;
    let mut guard = slot.lock();
    let tx = guard
        .as_mut()
        .ok_or_else(|| KernelError::Closed("transaction already finished".into()))?;
    f(tx)
}

fn take_tx(tx: u64) -> Result<Transaction> {
    TXS.remove(Handle::from_raw(tx))?
        .lock()
        .take()
        .ok_or_else(|| KernelError::Closed("transaction already finished".into()))
}

/// Opens the journal of the project root `root` (UTF-8 path) and returns its handle.
/// `sync` (0/1) also fsyncs file content; `lock_timeout_ms` bounds waits for other processes.
#[export(nonblocking)]
fn krepis_journal_open(
    root: *const u8,
    root_len: usize,
    sync: u32,
    lock_timeout_ms: u64,
) -> Result<i64> {
    let root = unsafe { guard::utf8(root, root_len, "root") }?;
    let options = JournalOptions {
        sync: sync != 0,
        lock_timeout: Duration::from_millis(lock_timeout_ms),
        ..JournalOptions::default()
    };
    Ok(JOURNALS
        .insert(Journal::with_options(root, options)?)?
        .raw() as i64)
}

/// Releases a journal handle (open transactions keep working until they finish).
#[export]
fn krepis_journal_close(journal: u64) -> Result<i64> {
    JOURNALS.remove(Handle::from_raw(journal))?;
    Ok(0)
}

/// Starts a transaction labelled `label`, waiting for other processes; returns its handle.
#[export(nonblocking)]
fn krepis_journal_begin(journal: u64, label: *const u8, label_len: usize) -> Result<i64> {
    let label = unsafe { guard::utf8(label, label_len, "label") }?;
    let tx = JOURNALS.get(Handle::from_raw(journal))?.begin(label)?;
    Ok(TXS.insert(Mutex::new(Some(tx)))?.raw() as i64)
}

/// Undoes the newest `steps` transactions (`force` 0/1); returns how many were undone.
#[export(nonblocking)]
fn krepis_journal_undo(journal: u64, steps: u32, force: u32) -> Result<i64> {
    let journal = JOURNALS.get(Handle::from_raw(journal))?;
    Ok(journal.undo(steps as usize, force != 0)?.len() as i64)
}

/// Redoes the oldest `steps` undone transactions (`force` 0/1); returns how many.
#[export(nonblocking)]
fn krepis_journal_redo(journal: u64, steps: u32, force: u32) -> Result<i64> {
    let journal = JOURNALS.get(Handle::from_raw(journal))?;
    Ok(journal.redo(steps as usize, force != 0)?.len() as i64)
}

/// Writes the history (JSON array, newest first) into `out`; returns its full length.
#[export(nonblocking)]
fn krepis_journal_history(journal: u64, out: *mut u8, cap: usize) -> Result<i64> {
    let history = JOURNALS.get(Handle::from_raw(journal))?.history()?;
    let json = serde_json::to_vec(&history).map_err(|e| KernelError::Internal(e.to_string()))?;
    unsafe { guard::write_out(out, cap, &json) }
}

/// Stages writing `data` to `path` with `mode` (-1: keep or default).
#[export]
fn krepis_tx_write(
    tx: u64,
    path: *const u8,
    path_len: usize,
    data: *const u8,
    data_len: usize,
    mode: i64,
) -> Result<i64> {
    let path = unsafe { guard::utf8(path, path_len, "path") }?;
    let data = unsafe { guard::bytes(data, data_len) }?;
    let mode = self::mode(mode)?;
    with_tx(tx, |tx| tx.write(path, data, mode))?;
    Ok(data_len as i64)
}

/// Stages creating directory `path` (`recursive` 0/1, `mode` -1 for the default).
#[export]
fn krepis_tx_mkdir(
    tx: u64,
    path: *const u8,
    path_len: usize,
    recursive: u32,
    mode: i64,
) -> Result<i64> {
    let path = unsafe { guard::utf8(path, path_len, "path") }?;
    let mode = self::mode(mode)?;
    with_tx(tx, |tx| tx.mkdir(path, recursive != 0, mode))?;
    Ok(0)
}

/// Stages removing the file or directory `path` (`recursive` 0/1).
#[export]
fn krepis_tx_remove(tx: u64, path: *const u8, path_len: usize, recursive: u32) -> Result<i64> {
    let path = unsafe { guard::utf8(path, path_len, "path") }?;
    with_tx(tx, |tx| tx.remove(path, recursive != 0))?;
    Ok(0)
}

/// Stages renaming the file `from` to `to`.
#[export]
fn krepis_tx_rename(
    tx: u64,
    from: *const u8,
    from_len: usize,
    to: *const u8,
    to_len: usize,
) -> Result<i64> {
    let from = unsafe { guard::utf8(from, from_len, "from") }?;
    let to = unsafe { guard::utf8(to, to_len, "to") }?;
    with_tx(tx, |tx| tx.rename(from, to))?;
    Ok(0)
}

/// Stages setting the permission bits of `path`.
#[export]
fn krepis_tx_chmod(tx: u64, path: *const u8, path_len: usize, mode: u32) -> Result<i64> {
    let path = unsafe { guard::utf8(path, path_len, "path") }?;
    let mode = self::mode(mode as i64)?.unwrap_or_default();
    with_tx(tx, |tx| tx.chmod(path, mode))?;
    Ok(0)
}

/// Records the staged operations durably and applies them.
#[export]
fn krepis_tx_flush(tx: u64) -> Result<i64> {
    with_tx(tx, |tx| tx.flush())?;
    Ok(0)
}

/// Commits and releases the transaction; returns its id.
#[export]
fn krepis_tx_commit(tx: u64) -> Result<i64> {
    Ok(take_tx(tx)?.commit()? as i64)
}

/// Rolls back and releases the transaction.
#[export]
fn krepis_tx_rollback(tx: u64) -> Result<i64> {
    take_tx(tx)?.rollback()?;
    Ok(0)
}
