//! `krepis-codegen`: emits `bindings/` from the FFI crate's Rust definitions and the
//! `.proto` files. With `--check`, compares instead of writing and exits 1 with a diff when
//! `bindings/` is stale.

mod abi;
mod layout;
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
    let ffi_src = root.join("crates/krepis-ffi/src");
    let mut krate = scan::scan(&ffi_src)?;
    krate.layout = layout::scan(root)?;
    let mut files = proto::generate(&root.join("proto"))?;
    let mut modules: Vec<String> = files
        .iter()
        .map(|(p, _)| p.to_string_lossy().replace('\\', "/"))
        .collect();
    modules.push(layout::TS_FILE.into());
    files.push((PathBuf::from("ffi.ts"), ts::render(&krate)));
    files.push((
        PathBuf::from(layout::TS_FILE),
        layout::render(&krate.layout),
    ));
    files.push((PathBuf::from("mod.ts"), ts::render_mod(&modules)));
    files.push((
        PathBuf::from("deno.json"),
        ts::render_package(env!("CARGO_PKG_VERSION")),
    ));
    // The fingerprint also lives in the FFI crate, which returns it from
    // `krepis_abi_fingerprint`; it sits beside hand-written files, so nothing is pruned there.
    let abi_files = vec![(PathBuf::from(abi::RUST_FILE), abi::render_rust(&krate))];
    let out = root.join("bindings");
    let count = files.len() + abi_files.len();
    if check {
        let diff = sync::diff(&files, &out, "bindings", true)?
            + &sync::diff(&abi_files, &ffi_src, "crates/krepis-ffi/src", false)?;
        if diff.is_empty() {
            println!("bindings/ and the ABI fingerprint are up to date ({count} files)");
            Ok(true)
        } else {
            print!("{diff}");
            eprintln!("generated files are stale: run `deno task codegen` and commit the result");
            Ok(false)
        }
    } else {
        let changed = sync::write(&files, &out, true)? + sync::write(&abi_files, &ffi_src, false)?;
        println!(
            "bindings/ and {}: {changed} file(s) updated, {count} generated",
            abi::RUST_FILE
        );
        Ok(true)
    }
}
