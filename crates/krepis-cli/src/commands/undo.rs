//! `krepis undo [N] [--force]`: reverts the newest N journaled transactions.

use clap::Args;

use super::journal::{RootArg, describe};

/// Arguments of `krepis undo`.
#[derive(Args, Debug)]
pub struct UndoArgs {
    /// How many transactions to undo.
    #[arg(default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub steps: u32,
    /// Undo even when files changed outside Krepis since (their changes are lost).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub root: RootArg,
}

/// Runs `krepis undo`.
pub fn run(args: UndoArgs) -> Result<(), String> {
    let journal = args.root.open()?;
    let undone = journal
        .undo(args.steps as usize, args.force)
        .map_err(|e| e.to_string())?;
    for tx in undone {
        println!("undid {}", describe(&tx));
    }
    Ok(())
}
