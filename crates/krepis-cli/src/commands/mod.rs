//! One module per `krepis` subcommand.

pub mod history;
pub mod journal;
pub mod redo;
pub mod undo;
