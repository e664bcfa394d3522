//! One module per `krepis` subcommand.

pub mod check;
pub mod dev;
pub mod generate;
pub mod history;
pub mod init;
pub mod journal;
pub mod plugin;
pub mod redo;
pub mod undo;
