//! Reads the exported functions and the ABI version out of the `krepis-ffi` sources.

use std::path::{Path, PathBuf};

use deno_bindgen_ir::Type;
use syn::{Attribute, Expr, FnArg, GenericArgument, Item, Lit, Pat, PathArguments, ReturnType};

/// One `#[export]` function as the TypeScript side sees it: one entry of the `Deno.dlopen`
/// symbol table.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// The entry's name, e.g. `krepis_buffer_alloc`.
    pub name: String,
    /// The C symbol it calls: `name` itself, except for the nonblocking twin of an
    /// `#[export(both)]` function (`krepis_kv_read_async` calls `krepis_kv_read`).
    pub symbol: String,
    /// The Rust doc comment, line by line.
    pub docs: Vec<String>,
    /// Parameter names and their FFI types.
    pub params: Vec<(String, Type)>,
    /// The C-ABI return type.
    pub result: Type,
    /// True when the Rust function returns `Result`: negative values are error tickets.
    pub fallible: bool,
    /// True for `#[export(nonblocking)]`: Deno runs the call off the main thread.
    pub nonblocking: bool,
}

/// How a function is exported: the argument of its `#[export]` attribute.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// `#[export]`: called on the JavaScript thread.
    Plain,
    /// `#[export(nonblocking)]`: Deno runs it on a worker thread and returns a Promise.
    Nonblocking,
    /// `#[export(both)]`: one C function bound twice, plain as `name` and nonblocking as
    /// `name_async`.
    Both,
}

/// The nonblocking twin of an `#[export(both)]` function: the same C symbol, run off the
/// JavaScript thread.
fn nonblocking_twin(sync: &Export) -> Export {
    let docs = vec![
        format!(
            "`{}` off the JavaScript thread: the same C function (`#[export(both)]`),",
            sync.name
        ),
        "run by Deno on a worker thread. Buffers must stay untouched until it resolves.".into(),
    ];
    Export {
        name: format!("{}_async", sync.name),
        symbol: sync.symbol.clone(),
        docs,
        nonblocking: true,
        ..sync.clone()
    }
}

/// Everything the generator needs from the FFI crate.
#[derive(Debug)]
pub struct FfiCrate {
    /// `ABI_VERSION` from the crate root.
    pub abi_version: u32,
    /// Exports sorted by name, so the output does not depend on file order.
    pub exports: Vec<Export>,
    /// The shared-memory record layout both sides must agree on (see `layout`).
    pub layout: Vec<crate::layout::Constant>,
}

/// Scans every `.rs` file under `src`.
pub fn scan(src: &Path) -> Result<FfiCrate, String> {
    let mut files = Vec::new();
    collect_rs(src, &mut files)?;
    files.sort();
    let mut abi_version = None;
    let mut exports = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let parsed =
            syn::parse_file(&text).map_err(|e| format!("cannot parse {}: {e}", file.display()))?;
        for item in parsed.items {
            match item {
                Item::Const(c) if c.ident == "ABI_VERSION" => {
                    abi_version = Some(int_literal(&c.expr).ok_or_else(|| {
                        format!(
                            "ABI_VERSION in {} must be an integer literal",
                            file.display()
                        )
                    })?);
                }
                Item::Fn(f) => {
                    if let Some(kind) = export_attr(&f.attrs)? {
                        exports
                            .extend(read_export(&f, kind).map_err(|e| {
                                format!("{}: {}: {e}", file.display(), f.sig.ident)
                            })?);
                    }
                }
                _ => {}
            }
        }
    }
    exports.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(dup) = exports.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(format!("{} is exported twice", dup[0].name));
    }
    Ok(FfiCrate {
        abi_version: abi_version.ok_or("no `const ABI_VERSION` found in the FFI crate")?,
        exports,
        layout: Vec::new(),
    })
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            collect_rs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

fn int_literal(expr: &Expr) -> Option<u32> {
    match expr {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Int(i) => i.base10_parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// `None` when not exported, its kind otherwise.
fn export_attr(attrs: &[Attribute]) -> Result<Option<Kind>, String> {
    for attr in attrs {
        if attr
            .path()
            .segments
            .last()
            .is_some_and(|s| s.ident == "export")
        {
            return match &attr.meta {
                syn::Meta::Path(_) => Ok(Some(Kind::Plain)),
                syn::Meta::List(list) if list.tokens.to_string() == "nonblocking" => {
                    Ok(Some(Kind::Nonblocking))
                }
                syn::Meta::List(list) if list.tokens.to_string() == "both" => Ok(Some(Kind::Both)),
                other => Err(format!(
                    "unsupported export attribute `{}`",
                    quote_meta(other)
                )),
            };
        }
    }
    Ok(None)
}

fn quote_meta(meta: &syn::Meta) -> String {
    match meta {
        syn::Meta::List(list) => list.tokens.to_string(),
        _ => String::new(),
    }
}

/// The `///` doc comment in `attrs`, line by line.
pub fn doc_lines(attrs: &[Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) if nv.path.is_ident("doc") => match &nv.value {
                Expr::Lit(l) => match &l.lit {
                    Lit::Str(s) => Some(s.value().trim().to_string()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The symbol table entries of one exported function: one, or two for `#[export(both)]`.
fn read_export(f: &syn::ItemFn, kind: Kind) -> Result<Vec<Export>, String> {
    let docs = doc_lines(&f.attrs);
    let mut params = Vec::new();
    for input in &f.sig.inputs {
        let FnArg::Typed(arg) = input else {
            return Err("methods cannot be exported".into());
        };
        let Pat::Ident(ident) = &*arg.pat else {
            return Err("parameters must be plain identifiers".into());
        };
        params.push((ident.ident.to_string(), ffi_type(&arg.ty)?));
    }
    let (result, fallible) = match &f.sig.output {
        ReturnType::Default => (Type::Void, false),
        ReturnType::Type(_, ty) => match result_ok_type(ty) {
            Some(ok) => {
                let t = ffi_type(ok)?;
                if t != Type::Float64 {
                    return Err("a fallible export must return Result<f64>".into());
                }
                (t, true)
            }
            None => (ffi_type(ty)?, false),
        },
    };
    let name = f.sig.ident.to_string();
    let export = Export {
        symbol: name.clone(),
        name,
        docs,
        params,
        result,
        fallible,
        nonblocking: kind == Kind::Nonblocking,
    };
    Ok(match kind {
        Kind::Both => {
            let twin = nonblocking_twin(&export);
            vec![export, twin]
        }
        Kind::Plain | Kind::Nonblocking => vec![export],
    })
}

fn result_ok_type(ty: &syn::Type) -> Option<&syn::Type> {
    let syn::Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(ok) => Some(ok),
        _ => None,
    }
}

/// Maps a Rust parameter or return type onto the FFI type IR of deno_bindgen.
pub fn ffi_type(ty: &syn::Type) -> Result<Type, String> {
    match ty {
        syn::Type::Tuple(t) if t.elems.is_empty() => Ok(Type::Void),
        syn::Type::Ptr(ptr) => {
            let target = quote_type(&ptr.elem);
            match target.as_str() {
                "u8" => Ok(Type::Buffer),
                "c_void" | "std::ffi::c_void" | "core::ffi::c_void" => Ok(Type::Pointer),
                other => Err(format!(
                    "pointer to `{other}` is not supported: use *const u8 (buffer) or *const c_void (pointer)"
                )),
            }
        }
        syn::Type::Path(_) => match quote_type(ty).as_str() {
            "u8" => Ok(Type::Uint8),
            "u16" => Ok(Type::Uint16),
            "u32" => Ok(Type::Uint32),
            "i8" => Ok(Type::Int8),
            "i16" => Ok(Type::Int16),
            "i32" => Ok(Type::Int32),
            // Deno maps 64-bit integers to BigInt, which allocates on every call.
            wide @ ("u64" | "usize" | "i64" | "isize") => Err(format!(
                "`{wide}` would cross as a BigInt: declare handles, lengths, offsets and counts \
                 as f64 and convert them with guard::handle_arg / guard::len_arg"
            )),
            "f32" => Ok(Type::Float32),
            "f64" => Ok(Type::Float64),
            other => Err(format!("type `{other}` cannot cross the FFI boundary")),
        },
        _ => Err("unsupported type at the FFI boundary".into()),
    }
}

fn quote_type(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(p) => p
            .path
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect::<Vec<_>>()
            .join("::"),
        _ => String::from("?"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exports_of(src: &str) -> Result<Vec<Export>, String> {
        let f: syn::ItemFn = syn::parse_str(src).unwrap();
        let kind = export_attr(&f.attrs)?.expect("exported");
        read_export(&f, kind)
    }

    fn export_of(src: &str) -> Result<Export, String> {
        let mut exports = exports_of(src)?;
        assert_eq!(exports.len(), 1);
        Ok(exports.remove(0))
    }

    #[test]
    fn both_binds_one_function_twice() {
        let exports = exports_of(
            "/// Reads.\n#[export(both)] fn krepis_kv_read(kv: f64, out: *mut u8, cap: f64) -> Result<f64> { Ok(0.0) }",
        )
        .unwrap();
        let [sync, twin] = &exports[..] else {
            panic!("two entries: {exports:?}")
        };
        assert_eq!(
            (sync.name.as_str(), sync.symbol.as_str(), sync.nonblocking),
            ("krepis_kv_read", "krepis_kv_read", false)
        );
        assert_eq!(
            (twin.name.as_str(), twin.symbol.as_str(), twin.nonblocking),
            ("krepis_kv_read_async", "krepis_kv_read", true)
        );
        assert_eq!(
            (&twin.params, twin.result, twin.fallible),
            (&sync.params, sync.result, sync.fallible)
        );
        assert!(twin.docs[0].starts_with("`krepis_kv_read` off the JavaScript thread"));
    }

    #[test]
    fn a_twin_that_collides_with_an_export_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.rs"),
            "const ABI_VERSION: u32 = 1;\n#[export(both)] fn krepis_r() {}\n#[export(nonblocking)] fn krepis_r_async() {}",
        )
        .unwrap();
        assert!(
            scan(dir.path())
                .unwrap_err()
                .contains("krepis_r_async is exported twice")
        );
    }

    #[test]
    fn reads_a_fallible_buffer_function() {
        let e = export_of(
            "/// Docs.\n#[export] fn krepis_x(h: f64, data: *const u8, len: f64) -> Result<f64> { Ok(0.0) }",
        )
        .unwrap();
        assert_eq!(e.name, "krepis_x");
        assert_eq!(e.docs, vec!["Docs."]);
        assert_eq!(
            e.params,
            vec![
                ("h".into(), Type::Float64),
                ("data".into(), Type::Buffer),
                ("len".into(), Type::Float64)
            ]
        );
        assert!(e.fallible && !e.nonblocking);
        assert_eq!(e.result, Type::Float64);
    }

    #[test]
    fn reads_nonblocking_and_void() {
        let e = export_of("#[export(nonblocking)] fn krepis_wait(p: *mut c_void) {}").unwrap();
        assert!(e.nonblocking && !e.fallible);
        assert_eq!(e.params[0].1, Type::Pointer);
        assert_eq!(e.result, Type::Void);
    }

    #[test]
    fn rejects_types_that_cannot_cross() {
        assert!(export_of("#[export] fn krepis_s(s: String) -> u32 { 0 }").is_err());
        assert!(export_of("#[export] fn krepis_b() -> Result<u64> { Ok(0) }").is_err());
        assert!(export_of("#[export] fn krepis_i() -> Result<i32> { Ok(0) }").is_err());
        assert!(export_of("#[export] fn krepis_p(p: *const u32) {}").is_err());
        assert!(export_of("#[export(sometimes)] fn krepis_q() {}").is_err());
    }

    #[test]
    fn rejects_64_bit_integers_with_the_f64_convention() {
        for ty in ["u64", "usize", "i64", "isize"] {
            let error = export_of(&format!("#[export] fn krepis_w(n: {ty}) {{}}")).unwrap_err();
            assert!(error.contains("BigInt") && error.contains("f64"), "{error}");
            let error = export_of(&format!("#[export] fn krepis_r() -> {ty} {{ 0 }}")).unwrap_err();
            assert!(error.contains(ty), "{error}");
        }
    }

    #[test]
    fn reads_the_abi_version_and_sorts_exports_across_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(
            dir.path().join("lib.rs"),
            "pub const ABI_VERSION: u32 = 7;\n#[export] fn krepis_zeta() -> u32 { 0 }",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("sub/a.rs"),
            "#[export] fn krepis_alpha(x: f64) -> Result<f64> { Ok(x) }\nfn private() {}",
        )
        .unwrap();
        let krate = scan(dir.path()).unwrap();
        assert_eq!(krate.abi_version, 7);
        let names: Vec<_> = krate.exports.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["krepis_alpha", "krepis_zeta"]);
    }

    #[test]
    fn refuses_duplicates_and_a_missing_abi_version() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.rs"),
            "#[export] fn krepis_same() {}\nmod m {}\n",
        )
        .unwrap();
        assert!(scan(dir.path()).unwrap_err().contains("ABI_VERSION"));
        std::fs::write(
            dir.path().join("b.rs"),
            "const ABI_VERSION: u32 = 1;\n#[export] fn krepis_same() {}",
        )
        .unwrap();
        assert!(scan(dir.path()).unwrap_err().contains("exported twice"));
    }
}
