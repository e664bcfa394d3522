//! `krepis-codegen`: emits `bindings/` from the FFI crate's Rust definitions and the
//! `.proto` files. With `--check`, compares instead of writing and exits 1 with a diff when
//! `bindings/` is stale.

mod proto;
mod scan;
mod sync;
mod ts;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Generate the TypeScript bindings of the Krepis kernel.
#[derive(Parser)]
#[command(name = "krepis-codegen", version, about)]
struct Args {
    /// Compare with the committed bindings instead of writing; exit 1 and print the diff
    /// when they differ.
    #[arg(long)]
    check: bool,
    /// Repository root (default: the workspace this tool was built in).
    #[arg(long)]
    root: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let root = args
        .root
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."));
    match run(&root, args.check) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("krepis-codegen: {error}");
            ExitCode::from(2)
        }
    }
}

/// Generates everything; returns false in check mode when `bindings/` differs.
fn run(root: &std::path::Path, check: bool) -> Result<bool, String> {
    let krate = scan::scan(&root.join("crates/krepis-ffi/src"))?;
    let mut files = proto::generate(&root.join("proto"))?;
    let proto_modules: Vec<String> = files
        .iter()
        .map(|(p, _)| p.to_string_lossy().replace('\\', "/"))
        .collect();
    files.push((PathBuf::from("ffi.ts"), ts::render(&krate)));
    files.push((PathBuf::from("mod.ts"), ts::render_mod(&proto_modules)));
    files.push((
        PathBuf::from("deno.json"),
        ts::render_package(env!("CARGO_PKG_VERSION")),
    ));
    let out = root.join("bindings");
    if check {
        let diff = sync::diff(&files, &out)?;
        if diff.is_empty() {
            println!("bindings/ is up to date ({} files)", files.len());
            Ok(true)
        } else {
            print!("{diff}");
            eprintln!("bindings/ is stale: run `deno task codegen` and commit the result");
            Ok(false)
        }
    } else {
        let changed = sync::write(&files, &out)?;
        println!(
            "bindings/: {changed} file(s) updated, {} generated",
            files.len()
        );
        Ok(true)
    }
}
