//! The transactional file system: journals and their transactions.

use std::time::Duration;

use krepis_ffi_macros::export;
use krepis_kernel::journal::{self, Journal, JournalOptions, SharedTransaction};
use krepis_kernel::{HandleKind, HandleTable, KernelError, Result};

use crate::guard::{self, handle_arg, handle_ret, int_arg, len_arg};

static JOURNALS: HandleTable<Journal> = HandleTable::new(HandleKind::Journal);
static TXS: HandleTable<SharedTransaction> = HandleTable::new(HandleKind::Transaction);

/// `-1` means "not given"; anything else must be valid permission bits.
fn mode(raw: f64) -> Result<Option<u32>> {
    if raw == -1.0 {
        return Ok(None);
    }
    match int_arg(raw, "mode")? {
        mode @ 0..=0o7777 => Ok(Some(mode as u32)),
        mode => Err(KernelError::invalid(format!(
            "mode {mode:#o} is not within 0o7777"
        ))),
    }
}

fn open_tx(tx: f64) -> Result<std::sync::Arc<SharedTransaction>> {
    TXS.get(handle_arg(tx)?)
}

/// Opens the journal of the project root `root` (UTF-8 path) and returns its handle.
/// `sync` (0/1) also fsyncs file content; `lock_timeout_ms` bounds waits for other processes.
#[export(nonblocking)]
fn krepis_journal_open(
    root: *const u8,
    root_len: f64,
    sync: u32,
    lock_timeout_ms: f64,
) -> Result<f64> {
    let root = unsafe { guard::utf8(root, root_len, "root") }?;
    let options = JournalOptions {
        sync: sync != 0,
        lock_timeout: Duration::from_millis(int_arg(lock_timeout_ms, "lock timeout")?),
        ..JournalOptions::default()
    };
    Ok(handle_ret(
        JOURNALS.insert(Journal::with_options(root, options)?)?,
    ))
}

/// Releases a journal handle (open transactions keep working until they finish).
#[export]
fn krepis_journal_close(journal: f64) -> Result<f64> {
    JOURNALS.remove(handle_arg(journal)?)?;
    Ok(0.0)
}

/// Writes the absolute location of `path` inside the journal's root into `out` (UTF-8) and
/// returns its length; escapes from the root are refused.
#[export]
fn krepis_journal_resolve(
    journal: f64,
    path: *const u8,
    path_len: f64,
    out: *mut u8,
    cap: f64,
) -> Result<f64> {
    let path = unsafe { guard::utf8(path, path_len, "path") }?;
    let abs = JOURNALS.get(handle_arg(journal)?)?.resolve(path)?;
    let abs = abs
        .to_str()
        .ok_or_else(|| KernelError::invalid("resolved path is not UTF-8"))?;
    unsafe { guard::write_out(out, cap, abs.as_bytes()) }
}

/// Starts a transaction labelled `label`, waiting for other processes; returns its handle.
#[export(nonblocking)]
fn krepis_journal_begin(journal: f64, label: *const u8, label_len: f64) -> Result<f64> {
    let label = unsafe { guard::utf8(label, label_len, "label") }?;
    let tx = JOURNALS.get(handle_arg(journal)?)?.begin(label)?;
    Ok(handle_ret(TXS.insert(SharedTransaction::new(tx))?))
}

/// Undoes the newest `steps` transactions (`force` 0/1); returns how many were undone.
#[export(nonblocking)]
fn krepis_journal_undo(journal: f64, steps: f64, force: u32) -> Result<f64> {
    let journal = JOURNALS.get(handle_arg(journal)?)?;
    Ok(journal.undo(len_arg(steps, "steps")?, force != 0)?.len() as f64)
}

/// Redoes the oldest `steps` undone transactions (`force` 0/1); returns how many.
#[export(nonblocking)]
fn krepis_journal_redo(journal: f64, steps: f64, force: u32) -> Result<f64> {
    let journal = JOURNALS.get(handle_arg(journal)?)?;
    Ok(journal.redo(len_arg(steps, "steps")?, force != 0)?.len() as f64)
}

/// Writes the Protobuf `JournalHistory` (newest first) into `out`; returns its full length.
#[export(nonblocking)]
fn krepis_journal_history(journal: f64, out: *mut u8, cap: f64) -> Result<f64> {
    let history = JOURNALS.get(handle_arg(journal)?)?.history()?;
    unsafe { guard::write_message(out, cap, &journal::history_message(&history)) }
}

/// Stages writing `data` to `path` with `mode` (-1: keep or default).
#[export]
fn krepis_tx_write(
    tx: f64,
    path: *const u8,
    path_len: f64,
    data: *const u8,
    data_len: f64,
    mode: f64,
) -> Result<f64> {
    let path = unsafe { guard::utf8(path, path_len, "path") }?;
    let data = unsafe { guard::bytes(data, data_len) }?;
    let mode = self::mode(mode)?;
    open_tx(tx)?.with(|tx| tx.write(path, data, mode))?;
    Ok(data.len() as f64)
}

/// Stages creating directory `path` (`recursive` 0/1, `mode` -1 for the default).
#[export]
fn krepis_tx_mkdir(
    tx: f64,
    path: *const u8,
    path_len: f64,
    recursive: u32,
    mode: f64,
) -> Result<f64> {
    let path = unsafe { guard::utf8(path, path_len, "path") }?;
    let mode = self::mode(mode)?;
    open_tx(tx)?.with(|tx| tx.mkdir(path, recursive != 0, mode))?;
    Ok(0.0)
}

/// Stages removing the file or directory `path` (`recursive` 0/1).
#[export]
fn krepis_tx_remove(tx: f64, path: *const u8, path_len: f64, recursive: u32) -> Result<f64> {
    let path = unsafe { guard::utf8(path, path_len, "path") }?;
    open_tx(tx)?.with(|tx| tx.remove(path, recursive != 0))?;
    Ok(0.0)
}

/// Stages renaming the file `from` to `to`.
#[export]
fn krepis_tx_rename(
    tx: f64,
    from: *const u8,
    from_len: f64,
    to: *const u8,
    to_len: f64,
) -> Result<f64> {
    let from = unsafe { guard::utf8(from, from_len, "from") }?;
    let to = unsafe { guard::utf8(to, to_len, "to") }?;
    open_tx(tx)?.with(|tx| tx.rename(from, to))?;
    Ok(0.0)
}

/// Stages setting the permission bits of `path`.
#[export]
fn krepis_tx_chmod(tx: f64, path: *const u8, path_len: f64, mode: f64) -> Result<f64> {
    let path = unsafe { guard::utf8(path, path_len, "path") }?;
    let mode = self::mode(mode)?.unwrap_or_default();
    open_tx(tx)?.with(|tx| tx.chmod(path, mode))?;
    Ok(0.0)
}

/// Records the staged operations durably and applies them.
#[export]
fn krepis_tx_flush(tx: f64) -> Result<f64> {
    open_tx(tx)?.with(|tx| tx.flush())?;
    Ok(0.0)
}

/// Commits and releases the transaction; returns its id.
#[export]
fn krepis_tx_commit(tx: f64) -> Result<f64> {
    Ok(TXS.remove(handle_arg(tx)?)?.commit()? as f64)
}

/// Rolls back and releases the transaction.
#[export]
fn krepis_tx_rollback(tx: f64) -> Result<f64> {
    TXS.remove(handle_arg(tx)?)?.rollback()?;
    Ok(0.0)
}
