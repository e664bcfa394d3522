//! `krepis redo [N] [--force]`: re-applies the oldest N undone transactions.

use super::journal::{StepArgs, step};

/// Arguments of `krepis redo`.
pub type RedoArgs = StepArgs;

/// Runs `krepis redo`.
pub fn run(args: RedoArgs) -> Result<(), String> {
    step(args, "redid", |journal, steps, force| {
        journal.redo(steps, force)
    })
}
