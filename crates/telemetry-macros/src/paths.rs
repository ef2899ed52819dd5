//! Where the generated code finds the runtime crates.
//!
//! A proc-macro crate cannot export runtime items, and `$crate` does not exist for it, so
//! the expansion names the runtime crates by path. Which path depends on the caller's
//! dependencies, read from its `Cargo.toml` by `proc-macro-crate` (which follows renames).

use proc_macro_crate::{FoundCrate, crate_name};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Ident, Path};

/// The three runtime crates, as paths usable in the caller's code.
pub(crate) struct Paths {
    /// `telemetry-span`.
    pub(crate) span: TokenStream,
    /// `telemetry-context`.
    pub(crate) context: TokenStream,
    /// `telemetry-core`.
    pub(crate) core: TokenStream,
}

impl Paths {
    /// Picks the paths: an explicit `crate = path` first, then the facade `telemetry` if the
    /// caller depends on it, else the micro-crates themselves.
    pub(crate) fn resolve(krate: Option<&Path>) -> Paths {
        if let Some(krate) = krate {
            return Paths::facade(&quote!(#krate));
        }
        if let Some(facade) = dependency("telemetry") {
            return Paths::facade(&quote!(::#facade));
        }
        Paths {
            span: direct("telemetry-span"),
            context: direct("telemetry-context"),
            core: direct("telemetry-core"),
        }
    }

    /// The paths under a facade's `__private` module.
    fn facade(facade: &TokenStream) -> Paths {
        Paths {
            span: quote!(#facade::__private::span),
            context: quote!(#facade::__private::context),
            core: quote!(#facade::__private::core),
        }
    }
}

/// The name under which the caller sees `package`, if it depends on it (or is it: then
/// the package's own name, which works in its tests, examples and doc tests, and in its
/// library given `extern crate self as name;`).
fn dependency(package: &str) -> Option<Ident> {
    let name = match crate_name(package).ok()? {
        FoundCrate::Itself => package.replace('-', "_"),
        FoundCrate::Name(name) => name,
    };
    Some(Ident::new(&name, Span::call_site()))
}

/// The path of a micro-crate; when the caller's manifest does not list it (or cannot be
/// read), its usual name, so that rustc's "unresolved crate" error names what is missing.
fn direct(package: &str) -> TokenStream {
    let name = dependency(package)
        .unwrap_or_else(|| Ident::new(&package.replace('-', "_"), Span::call_site()));
    quote!(::#name)
}
