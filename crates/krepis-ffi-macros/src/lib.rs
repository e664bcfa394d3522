//! `#[export]`: puts a function on the C ABI with the boundary invariants built in.
//!
//! ```ignore
//! /// Adds two numbers.
//! #[export]
//! fn krepis_add(a: u32, b: u32) -> u32 { a + b }
//!
//! /// Fails with a clear error instead of crashing. Handles, lengths and results cross as
//! /// `f64` (exact below 2^53; Deno would make 64-bit integers BigInts).
//! #[export(nonblocking)]
//! fn krepis_wait(handle: f64) -> Result<f64> { ... }
//!
//! /// Reads keys; a local store calls it on the JavaScript thread, a remote one off it.
//! #[export(both)]
//! fn krepis_kv_read(kv: f64, keys: *const u8, keys_len: f64) -> Result<f64> { ... }
//! ```
//!
//! The function becomes `#[unsafe(no_mangle)] pub unsafe extern "C"` and its body runs inside
//! `crate::guard::run`, which catches panics and turns `Result` errors into error tickets
//! (negative return values). A `Result<T, _>` return is exposed as `T` on the C ABI.
//! The flags are read by `tools/codegen`: `nonblocking` marks the Deno symbol so; `both`
//! expands like a plain `#[export]` (one C function) and codegen binds that symbol twice,
//! as `name` (synchronous) and as `name_async` (`nonblocking`, a Promise).

use proc_macro::TokenStream;
use quote::quote;
use syn::{GenericArgument, ItemFn, PathArguments, ReturnType, Type, parse_macro_input};

/// Exports a kernel function on the C ABI behind a panic guard. See the crate docs.
#[proc_macro_attribute]
pub fn export(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr = proc_macro2::TokenStream::from(attr);
    if !attr.is_empty() && !matches!(attr.to_string().as_str(), "nonblocking" | "both") {
        return syn::Error::new_spanned(
            attr,
            "expected `#[export]`, `#[export(nonblocking)]` or `#[export(both)]`",
        )
        .to_compile_error()
        .into();
    }
    let func = parse_macro_input!(item as ItemFn);
    match expand(func) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

fn expand(func: ItemFn) -> syn::Result<proc_macro2::TokenStream> {
    let ItemFn {
        attrs, sig, block, ..
    } = func;
    if sig.asyncness.is_some() || !sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig,
            "exported functions must be plain, non-generic, synchronous functions",
        ));
    }
    let name = &sig.ident;
    let inputs = &sig.inputs;
    let (declared, raw) = match &sig.output {
        ReturnType::Default => (quote!(()), quote!(())),
        ReturnType::Type(_, ty) => (quote!(#ty), raw_type(ty)),
    };
    Ok(quote! {
        #(#attrs)*
        ///
        /// # Safety
        ///
        /// Called from TypeScript through `Deno.dlopen`. Pointer arguments must be valid for
        /// the lengths passed beside them; everything else is validated by the kernel.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn #name(#inputs) -> #raw {
            crate::guard::run(stringify!(#name), move || -> #declared #block)
        }
    })
}

/// The C-ABI type of a declared return type: `Result<T, E>` becomes `T`.
fn raw_type(ty: &Type) -> proc_macro2::TokenStream {
    if let Type::Path(path) = ty
        && let Some(last) = path.path.segments.last()
        && last.ident == "Result"
        && let PathArguments::AngleBracketed(args) = &last.arguments
        && let Some(GenericArgument::Type(ok)) = args.args.first()
    {
        return quote!(#ok);
    }
    quote!(#ty)
}
