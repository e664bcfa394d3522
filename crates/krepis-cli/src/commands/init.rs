//! `krepis init`: placeholder.

use clap::Args;

use crate::error::{CliError, Result};

/// Arguments of `krepis init`.
#[derive(Args, Debug)]
pub struct InitArgs {}

/// Not yet available.
pub fn run(_args: InitArgs) -> Result<()> {
    Err(CliError::Failed("krepis init is not available yet".into()))
}
