//! `krepis`: the Krepis master CLI.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The Krepis master CLI.
#[derive(Parser)]
#[command(name = "krepis", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print what this build of the kernel is.
    Info,
    /// Undo the newest journaled transactions (file changes Krepis made).
    Undo(commands::undo::UndoArgs),
    /// Redo transactions undone with `krepis undo`.
    Redo(commands::redo::RedoArgs),
    /// List journaled transactions, newest first.
    History(commands::history::HistoryArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info => {
            let info = krepis_kernel::info::kernel_info(0);
            println!(
                "krepis kernel {} ({}, {})",
                info.version, info.target, info.profile
            );
            Ok(())
        }
        Command::Undo(args) => commands::undo::run(args),
        Command::Redo(args) => commands::redo::run(args),
        Command::History(args) => commands::history::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
