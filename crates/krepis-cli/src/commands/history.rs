//! `krepis history [--json]`: lists journaled transactions, newest first.

use clap::Args;

use super::journal::{RootArg, describe};

/// Arguments of `krepis history`.
#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Print a JSON array (id, label, time_ms, undone, files) instead of text.
    #[arg(long)]
    pub json: bool,
    /// List the files of each transaction too.
    #[arg(long, short)]
    pub verbose: bool,
    #[command(flatten)]
    pub root: RootArg,
}

/// Runs `krepis history`.
pub fn run(args: HistoryArgs) -> Result<(), String> {
    let history = match args.root.open()? {
        Some(journal) => journal.history().map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&history).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    if history.is_empty() {
        println!("no transactions yet");
    }
    for tx in &history {
        println!("{}", describe(tx));
        if args.verbose {
            for file in &tx.files {
                println!("    {file}");
            }
        }
    }
    Ok(())
}
