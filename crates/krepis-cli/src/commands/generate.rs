//! `krepis gen`: placeholder until the generator lands.

use clap::Args;

use crate::error::{CliError, Result};

/// Arguments of `krepis gen`.
#[derive(Args, Debug)]
pub struct GenArgs {}

/// Not yet available.
pub fn run(_args: GenArgs) -> Result<()> {
    Err(CliError::Failed("krepis gen is not available yet".into()))
}
