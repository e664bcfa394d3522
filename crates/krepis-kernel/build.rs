//! Compiles the control-plane `.proto` files with protox (no `protoc` needed) and records
//! the build target so the kernel can report it.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    // Every message file of the package, as codegen does for TypeScript: a new file needs
    // no edit here.
    let package = root.join("krepis/v1");
    println!("cargo:rerun-if-changed={}", package.display());
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&package)? {
        let name = entry?
            .file_name()
            .into_string()
            .map_err(|_| "non-UTF-8 file name")?;
        if name.ends_with(".proto") {
            println!("cargo:rerun-if-changed={}", package.join(&name).display());
            files.push(format!("krepis/v1/{name}"));
        }
    }
    files.sort();
    let descriptors = protox::compile(&files, [&root])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    println!("cargo:rustc-env=KREPIS_TARGET={}", std::env::var("TARGET")?);
    println!(
        "cargo:rustc-env=KREPIS_PROFILE={}",
        std::env::var("PROFILE")?
    );
    Ok(())
}
