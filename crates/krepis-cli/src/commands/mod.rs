//! One module per `krepis` subcommand.

pub mod check;
pub mod dev;
pub mod generate;
pub mod init;
