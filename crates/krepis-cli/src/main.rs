//! `krepis`: the Krepis master CLI.

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
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Info => {
            let info = krepis_kernel::info::kernel_info(0);
            println!(
                "krepis kernel {} ({}, {})",
                info.version, info.target, info.profile
            );
        }
    }
}
