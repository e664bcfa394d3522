//! Compiles the control-plane `.proto` files with protox (no `protoc` needed) and records
//! the build target so the kernel can report it.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        "krepis/v1/kernel.proto",
        "krepis/v1/http.proto",
        "krepis/v1/knul.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let descriptors = protox::compile(files, [&root])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    println!("cargo:rustc-env=KREPIS_TARGET={}", std::env::var("TARGET")?);
    println!(
        "cargo:rustc-env=KREPIS_PROFILE={}",
        std::env::var("PROFILE")?
    );
    Ok(())
}
