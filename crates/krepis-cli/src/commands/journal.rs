//! What `undo`, `redo` and `history` share: finding the project's journal and showing
//! transactions.

use std::path::{Path, PathBuf};

use clap::Args;
use krepis_kernel::Result as KernelResult;
use krepis_kernel::journal::{Journal, TxInfo};

use crate::project;

/// Where the project is.
#[derive(Args, Debug)]
pub struct RootArg {
    /// Project root; by default the nearest directory upwards with a `.krepis/journal`,
    /// else with a deno.json.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}

impl RootArg {
    /// Opens the journal of the project, without creating one: `None` for a
    /// project that has none yet (nothing was journaled in it).
    pub fn open(&self) -> Result<Option<Journal>, String> {
        let root = match &self.root {
            Some(root) => project::root(Some(root), "history").map_err(|e| e.to_string())?,
            None => {
                let cwd = std::env::current_dir().map_err(|e| format!("current directory: {e}"))?;
                let journaled = cwd.ancestors().find(|dir| has_journal(dir));
                match journaled {
                    Some(dir) => dir.to_path_buf(),
                    None => project::root(None, "history").map_err(|e| e.to_string())?,
                }
            }
        };
        if !has_journal(&root) {
            return Ok(None);
        }
        Journal::open(&root).map(Some).map_err(|e| e.to_string())
    }
}

/// Arguments of `krepis undo` and `krepis redo`.
#[derive(Args, Debug)]
pub struct StepArgs {
    /// How many transactions to step over.
    #[arg(default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub steps: u32,
    /// Go ahead even when files changed outside Krepis since (those changes are lost).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub root: RootArg,
}

/// Runs one of `undo`/`redo` (`step`) and prints each transaction after `verb`.
pub fn step(
    args: StepArgs,
    verb: &str,
    step: impl FnOnce(&Journal, usize, bool) -> KernelResult<Vec<TxInfo>>,
) -> Result<(), String> {
    let Some(journal) = args.root.open()? else {
        return Err(format!(
            "nothing to {}: no journaled changes in this project yet",
            if verb == "undid" { "undo" } else { "redo" }
        ));
    };
    let done = step(&journal, args.steps as usize, args.force).map_err(|e| e.to_string())?;
    for tx in done {
        println!("{verb} {}", describe(&tx));
    }
    Ok(())
}

fn has_journal(dir: &Path) -> bool {
    dir.join(".krepis").join("journal").is_dir()
}

/// One line describing a transaction, e.g. `#12 2026-11-24 02:31:05Z gen todo (3 files)`.
pub fn describe(tx: &TxInfo) -> String {
    let files = tx.files.len();
    format!(
        "#{} {} {}{} ({files} file{})",
        tx.id,
        utc(tx.time_ms),
        if tx.undone { "[undone] " } else { "" },
        tx.label,
        if files == 1 { "" } else { "s" }
    )
}

/// `YYYY-MM-DD HH:MM:SSZ` for milliseconds since the Unix epoch.
fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00Z");
        assert_eq!(utc(1_795_487_342_949), "2026-11-24 02:29:02Z");
    }
}
