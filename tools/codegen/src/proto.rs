//! Generates the TypeScript Protobuf codecs with protobuf-es's `protoc-gen-es` plugin.
//!
//! protox compiles the `.proto` files (no `protoc` needed) into the plugin's
//! `CodeGeneratorRequest`; the plugin runs under Deno from the npm registry.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use prost::Message;
use prost_types::compiler::{CodeGeneratorRequest, CodeGeneratorResponse};

use crate::ts::PROTOBUF_ES_VERSION;

/// A generated file: path relative to the output directory, and its text.
pub type GeneratedFile = (PathBuf, String);

/// Lists the `.proto` files under `root`, relative to it, sorted.
pub fn proto_files(root: &Path) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    walk(root, root, &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), String> {
    for entry in
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?
    {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            walk(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            let rel = path.strip_prefix(root).map_err(|e| e.to_string())?;
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

/// Runs `protoc-gen-es` on every `.proto` file under `root`.
pub fn generate(root: &Path) -> Result<Vec<GeneratedFile>, String> {
    let files = proto_files(root)?;
    let mut compiler = protox::Compiler::new([root]).map_err(|e| e.to_string())?;
    compiler.include_imports(true).include_source_info(true);
    compiler
        .open_files(&files)
        .map_err(|e| format!("cannot compile .proto files: {e}"))?;
    let request = CodeGeneratorRequest {
        file_to_generate: files,
        parameter: Some("target=ts,import_extension=ts".into()),
        proto_file: compiler.file_descriptor_set().file,
        compiler_version: None,
    };
    let plugin = format!("npm:@bufbuild/protoc-gen-es@{PROTOBUF_ES_VERSION}");
    let mut child = Command::new("deno")
        .args(["run", "--allow-read", "--allow-env", "--quiet", &plugin])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run deno for protoc-gen-es (is Deno installed?): {e}"))?;
    child
        .stdin
        .take()
        .ok_or("no stdin for protoc-gen-es")?
        .write_all(&request.encode_to_vec())
        .map_err(|e| format!("cannot write to protoc-gen-es: {e}"))?;
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!("protoc-gen-es failed with {}", output.status));
    }
    let response = CodeGeneratorResponse::decode(output.stdout.as_slice())
        .map_err(|e| format!("protoc-gen-es answered garbage: {e}"))?;
    if let Some(error) = response.error {
        return Err(format!("protoc-gen-es: {error}"));
    }
    Ok(response
        .file
        .into_iter()
        .map(|f| {
            (
                PathBuf::from("proto").join(f.name.unwrap_or_default()),
                f.content.unwrap_or_default(),
            )
        })
        .collect())
}
