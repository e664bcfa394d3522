//! `krepis redo [N] [--force]`: re-applies the oldest N undone transactions.

use clap::Args;

use super::journal::{RootArg, describe};

/// Arguments of `krepis redo`.
#[derive(Args, Debug)]
pub struct RedoArgs {
    /// How many transactions to redo.
    #[arg(default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub steps: u32,
    /// Redo even when files changed outside Krepis since the undo.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub root: RootArg,
}

/// Runs `krepis redo`.
pub fn run(args: RedoArgs) -> Result<(), String> {
    let journal = args.root.open()?;
    let redone = journal
        .redo(args.steps as usize, args.force)
        .map_err(|e| e.to_string())?;
    for tx in redone {
        println!("redid {}", describe(&tx));
    }
    Ok(())
}
