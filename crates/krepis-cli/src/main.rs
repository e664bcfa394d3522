//! `krepis`: the Krepis master CLI.

mod commands;
mod error;
mod progress;
mod project;
mod supervisor;
mod workspace;
mod writes;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use error::{CliError, Result};

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
    /// Scaffold a runnable Krepis app in a new directory.
    Init(commands::init::InitArgs),
    /// Run the app under the supervisor: reload on changes, restart on crashes.
    Dev(commands::dev::DevArgs),
    /// Run the ctx checker and the architecture checker.
    Check(commands::check::CheckArgs),
    /// Generate a command, query, port or adapter and wire it into the app.
    Gen(commands::generate::GenArgs),
    /// Undo the newest journaled transactions (file changes Krepis made).
    Undo(commands::undo::UndoArgs),
    /// Redo transactions undone with `krepis undo`.
    Redo(commands::redo::RedoArgs),
    /// List journaled transactions, newest first.
    History(commands::history::HistoryArgs),
    /// Print a shell completion script, e.g. `krepis completions bash > ~/.local/share/bash-completion/completions/krepis`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Check, sign and verify plugins (keygen, check, sign, verify).
    Plugin(commands::plugin::PluginArgs),
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Info => {
            let info = krepis_kernel::info::kernel_info(0);
            println!(
                "krepis kernel {} ({}, {})",
                info.version, info.target, info.profile
            );
            Ok(())
        }
        Command::Init(args) => commands::init::run(args),
        Command::Dev(args) => commands::dev::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::Gen(args) => commands::generate::run(args),
        Command::Undo(args) => commands::undo::run(args).map_err(CliError::Failed),
        Command::Redo(args) => commands::redo::run(args).map_err(CliError::Failed),
        Command::History(args) => commands::history::run(args).map_err(CliError::Failed),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "krepis", &mut std::io::stdout());
            Ok(())
        }
        Command::Plugin(args) => commands::plugin::run(args),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if !matches!(error, CliError::Exit(_)) {
                eprintln!("error: {error}");
            }
            ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(1))
        }
    }
}
