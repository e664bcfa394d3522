//! `krepis undo [N] [--force]`: reverts the newest N journaled transactions.

use super::journal::{StepArgs, step};

/// Arguments of `krepis undo`.
pub type UndoArgs = StepArgs;

/// Runs `krepis undo`.
pub fn run(args: UndoArgs) -> Result<(), String> {
    step(args, "undid", |journal, steps, force| {
        journal.undo(steps, force)
    })
}
