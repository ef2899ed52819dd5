//! The expansion of `#[traced]`: the function, with its body wrapped in a span.
//!
//! Generated locals and helper items use `Span::mixed_site()`, so they can neither shadow
//! nor be shadowed by the caller's names. The caller's body keeps its own spans, so errors
//! inside it read as if the attribute were not there.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{AttrStyle, FnArg, Ident, Item, ItemFn, LitStr, Pat, ReturnType, Signature, Type};

use crate::options::Options;
use crate::paths::Paths;

const NOT_A_FUNCTION: &str = "`#[traced]` can only be used on functions and methods with a body";

/// Names of the generated locals and items.
struct Names {
    guard_type: Ident,
    guard: Ident,
    entered: Ident,
    cx: Ident,
    result: Ident,
    record_err: Ident,
    call_once: Ident,
}

impl Names {
    fn new() -> Names {
        let name = |name: &str| Ident::new(name, Span::mixed_site());
        Names {
            guard_type: name("__TelemetryTracedGuard"),
            guard: name("__telemetry_guard"),
            entered: name("__telemetry_entered"),
            cx: name("__telemetry_cx"),
            result: name("__telemetry_result"),
            record_err: name("__telemetry_record_err"),
            call_once: name("__telemetry_call_once"),
        }
    }
}

/// Expands `#[traced(attr)] item`. On error, emits the error and the item unchanged, so
/// that code using the item does not fail too.
pub(crate) fn traced(attr: TokenStream, item: TokenStream) -> TokenStream {
    let expanded = parse_function(item.clone()).and_then(|function| expand(attr, &function));
    match expanded {
        Ok(tokens) => tokens,
        Err(error) => {
            let mut tokens = error.to_compile_error();
            tokens.extend(item);
            tokens
        }
    }
}

fn parse_function(item: TokenStream) -> syn::Result<ItemFn> {
    match syn::parse2::<Item>(item) {
        Ok(Item::Fn(function)) => match &function.sig.constness {
            Some(constness) => Err(syn::Error::new(
                constness.span,
                "`#[traced]` cannot be used on a `const fn`: a span cannot start during const \
                 evaluation",
            )),
            None => Ok(function),
        },
        Ok(other) => Err(syn::Error::new(item_span(&other), NOT_A_FUNCTION)),
        // A method without a body, say: point at the attribute.
        Err(_) => Err(syn::Error::new(Span::call_site(), NOT_A_FUNCTION)),
    }
}

/// Where to point an error about an item that is not a function: its keyword.
fn item_span(item: &Item) -> Span {
    match item {
        Item::Const(item) => item.const_token.span,
        Item::Enum(item) => item.enum_token.span,
        Item::ExternCrate(item) => item.extern_token.span,
        Item::ForeignMod(item) => item.abi.extern_token.span,
        Item::Impl(item) => item.impl_token.span,
        Item::Macro(item) => item.mac.path.span(),
        Item::Mod(item) => item.mod_token.span,
        Item::Static(item) => item.static_token.span,
        Item::Struct(item) => item.struct_token.span,
        Item::Trait(item) => item.trait_token.span,
        Item::TraitAlias(item) => item.trait_token.span,
        Item::Type(item) => item.type_token.span,
        Item::Union(item) => item.union_token.span,
        Item::Use(item) => item.use_token.span,
        _ => Span::call_site(),
    }
}

fn expand(attr: TokenStream, function: &ItemFn) -> syn::Result<TokenStream> {
    let options: Options = syn::parse2(attr)?;
    let paths = Paths::resolve(options.krate.as_ref());
    let names = Names::new();
    let start = start_span(&options, &function.sig, &paths)?;
    let body = if function.sig.asyncness.is_some() {
        async_body(function, &start, &paths, &names)
    } else {
        sync_body(function, &start, &paths, &names)
    };

    let ItemFn {
        attrs, vis, sig, ..
    } = function;
    let outer = attrs.iter().filter(|a| matches!(a.style, AttrStyle::Outer));
    let inner = attrs
        .iter()
        .filter(|a| matches!(a.style, AttrStyle::Inner(_)));
    Ok(quote! {
        #(#outer)*
        #vis #sig {
            #(#inner)*
            #body
        }
    })
}

/// The expression that starts the span: a child of the current span, in scope
/// `module_path!()`, with the options' name, kind and attributes.
fn start_span(options: &Options, sig: &Signature, paths: &Paths) -> syn::Result<TokenStream> {
    let Paths { span, core, .. } = paths;
    let tracer = Ident::new("__telemetry_tracer", Span::mixed_site());
    let builder = Ident::new("__telemetry_builder", Span::mixed_site());

    let name = match &options.name {
        Some(name) => name.to_token_stream(),
        None => {
            let function = sig.ident.unraw().to_string();
            quote!(::core::concat!(::core::module_path!(), "::", #function))
        }
    };
    let kind = options.kind.map(|kind| {
        let variant = Ident::new(kind.variant(), Span::call_site());
        quote!(.with_kind(#span::SpanKind::#variant))
    });

    let mut entries = Vec::new();
    for attribute in options.attributes.iter().flatten() {
        let key = LitStr::new(&attribute.key, attribute.key_span);
        let value = &attribute.value;
        entries.push(quote_spanned!(value.span()=> #core::KeyValue::new(#key, #value)));
    }
    let mut errors: Option<syn::Error> = None;
    for field in options.fields.iter().flatten() {
        match argument_type(sig, field) {
            Some(ty) => {
                let key = LitStr::new(&field.unraw().to_string(), field.span());
                let value = field_value(field, ty, core);
                entries.push(quote_spanned!(field.span()=> #core::KeyValue::new(#key, #value)));
            }
            None => {
                let message = format!("`{field}` is not an argument of `{}`", sig.ident);
                let error = syn::Error::new(field.span(), message);
                match &mut errors {
                    Some(errors) => errors.combine(error),
                    None => errors = Some(error),
                }
            }
        }
    }
    if let Some(errors) = errors {
        return Err(errors);
    }

    // Attributes are built only when spans can be recorded: no allocation otherwise.
    let attributes = (!entries.is_empty()).then(|| {
        quote! {
            let #builder = if #tracer.is_enabled() {
                #builder.with_attributes(::std::vec![#(#entries),*])
            } else {
                #builder
            };
        }
    });
    Ok(quote! {
        #span::global::with_tracer(::core::module_path!(), |#tracer| {
            let #builder = #tracer.span_builder(#name) #kind;
            #attributes
            #builder.start()
        })
    })
}

/// The declared type of the argument bound to `name` by a plain `name: Type` (or
/// `mut name: Type`) pattern.
fn argument_type<'a>(sig: &'a Signature, name: &Ident) -> Option<&'a Type> {
    let name = name.unraw();
    sig.inputs.iter().find_map(|input| match input {
        FnArg::Typed(arg) => match &*arg.pat {
            Pat::Ident(pat) if pat.ident.unraw() == name => Some(&*arg.ty),
            _ => None,
        },
        FnArg::Receiver(_) => None,
    })
}

/// The attribute value of argument `arg` of type `ty`: native for types that are obviously
/// booleans, integers, floats or strings (behind any number of references), `Debug`
/// formatting for everything else.
fn field_value(arg: &Ident, ty: &Type, core: &TokenStream) -> TokenStream {
    let mut place = quote!(#arg);
    let mut ty = ty;
    loop {
        match ty {
            Type::Reference(reference) => {
                place = quote!(*#place);
                ty = &reference.elem;
            }
            Type::Paren(paren) => ty = &paren.elem,
            Type::Group(group) => ty = &group.elem,
            _ => break,
        }
    }
    let name = match ty {
        Type::Path(path) if path.qself.is_none() => path.path.get_ident().map(Ident::to_string),
        _ => None,
    };
    match name.as_deref() {
        Some("bool") => place,
        Some("i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32") => {
            quote!(<::core::primitive::i64 as ::core::convert::From<_>>::from(#place))
        }
        Some("f32" | "f64") => {
            quote!(<::core::primitive::f64 as ::core::convert::From<_>>::from(#place))
        }
        Some("u64" | "usize" | "isize" | "i128" | "u128") => {
            let value = Ident::new("__telemetry_value", Span::mixed_site());
            quote! {
                match <::core::primitive::i64 as ::core::convert::TryFrom<_>>::try_from(#place) {
                    ::core::result::Result::Ok(#value) => #core::Value::I64(#value),
                    ::core::result::Result::Err(_) => {
                        #core::Value::from(::std::string::ToString::to_string(&#place))
                    }
                }
            }
        }
        Some("str" | "String") => quote!(::std::string::ToString::to_string(&#place)),
        _ => quote!(::std::format!("{:?}", #arg)),
    }
}

/// Items every expansion declares: the guard that owns the span, marks it as failed if
/// the body panics, and ends it when dropped.
fn guard_items(paths: &Paths, names: &Names) -> TokenStream {
    let span = &paths.span;
    let Names { guard_type, .. } = names;
    quote! {
        struct #guard_type {
            span: #span::Span,
            /// Already unwinding when the function started: a panic then is not ours.
            panicking: ::core::primitive::bool,
        }

        impl ::core::ops::Drop for #guard_type {
            fn drop(&mut self) {
                if !self.panicking && ::std::thread::panicking() {
                    self.span.record_exception(
                        "panic",
                        "the function panicked",
                        ::core::option::Option::None,
                    );
                    self.span.set_status(#span::Status::error("the function panicked"));
                }
            }
        }
    }
}

/// For functions returning a `Result`: the helper that records an `Err`, and its call.
/// The call carries the return type's span, so an error type without `Display` is
/// reported there.
fn record_err(sig: &Signature, paths: &Paths, names: &Names) -> Option<(TokenStream, TokenStream)> {
    let ReturnType::Type(_, ty) = &sig.output else {
        return None;
    };
    if !is_result(ty) {
        return None;
    }
    let span = &paths.span;
    let Names {
        guard,
        result,
        record_err,
        ..
    } = names;
    let t = Ident::new("T", Span::mixed_site());
    let e = Ident::new("E", Span::mixed_site());
    let display = Ident::new("__TracedErrorDisplay", Span::mixed_site());
    let item = quote! {
        #[diagnostic::on_unimplemented(
            message = "`#[traced]` records an `Err` with `Display`, which `{Self}` does not implement",
            label = "this `Result`'s error type must implement `Display`",
            note = "every `std::error::Error` implements `Display`",
        )]
        trait #display: ::core::fmt::Display {}
        impl<#t: ::core::fmt::Display + ?::core::marker::Sized> #display for #t {}

        fn #record_err<#t, #e: #display>(
            span: &#span::Span,
            result: &::core::result::Result<#t, #e>,
        ) {
            if let ::core::result::Result::Err(error) = result {
                let message = ::std::string::ToString::to_string(error);
                span.record_exception(
                    ::core::any::type_name::<#e>(),
                    &message,
                    ::core::option::Option::None,
                );
                span.set_status(#span::Status::error(message));
            }
        }
    };
    // The call takes the return type's location, where a missing `Display` is reported
    // (same names and hygiene, another location).
    let at_ty = |ident: &Ident| Ident::new(&ident.to_string(), ident.span().located_at(ty.span()));
    let (callee, guard, result) = (at_ty(record_err), at_ty(guard), at_ty(result));
    let call = quote_spanned!(ty.span().resolved_at(Span::mixed_site())=>
        #callee(&#guard.span, &#result);
    );
    Some((item, call))
}

fn sync_body(function: &ItemFn, start: &TokenStream, paths: &Paths, names: &Names) -> TokenStream {
    let guard_items = guard_items(paths, names);
    let Names {
        guard_type,
        guard,
        entered,
        result,
        call_once,
        ..
    } = names;
    let block = &function.block;
    let prologue = quote! {
        #guard_items
        let #guard = #guard_type {
            span: #start,
            panicking: ::std::thread::panicking(),
        };
        let #entered = #guard.span.enter();
    };
    let Some((record_item, record_call)) = record_err(&function.sig, paths, names) else {
        return quote! {
            #prologue
            #block
        };
    };
    // The body runs in a closure so that its `return`s and `?`s come back here. A closure
    // called from a generic `FnOnce` parameter is itself `FnOnce`, so the body may return
    // borrows of what it captured (`&mut self.field`), as the function itself could.
    let fake_return = fake_return(&function.sig.output);
    let r = Ident::new("R", Span::mixed_site());
    let f = Ident::new("F", Span::mixed_site());
    quote! {
        #record_item
        fn #call_once<#r, #f: ::core::ops::FnOnce() -> #r>(f: #f) -> #r {
            f()
        }
        #prologue
        let #result = #call_once(move || {
            #fake_return
            #block
        });
        #record_call
        #result
    }
}

fn async_body(function: &ItemFn, start: &TokenStream, paths: &Paths, names: &Names) -> TokenStream {
    let guard_items = guard_items(paths, names);
    let context = &paths.context;
    let Names {
        guard_type,
        guard,
        cx,
        result,
        ..
    } = names;
    let block = &function.block;
    let fake_return = fake_return(&function.sig.output);
    // The span starts on the first poll, as the body of an `async fn` does. The guard lives
    // in this future until it completes or is dropped; the body runs with the span current
    // on every poll, wherever it is polled.
    let prologue = quote! {
        #guard_items
        let #guard = #guard_type {
            span: #start,
            panicking: ::std::thread::panicking(),
        };
        let #cx = #guard.span.context_with(&#context::Context::current());
    };
    let future = quote! {
        #context::FutureExt::with_context(
            async move {
                #fake_return
                #block
            },
            #cx,
        )
        .await
    };
    match record_err(&function.sig, paths, names) {
        Some((record_item, record_call)) => quote! {
            #record_item
            #prologue
            let #result = #future;
            #record_call
            #result
        },
        None => quote! {
            #prologue
            #future
        },
    }
}

/// An unreachable `return` of the declared type, which fixes the return type of the
/// closure or async block around the body before the body is checked, so that `?` and
/// `.into()` in it infer as they would in the function itself. Omitted when the type
/// cannot be written in a `let` (`impl Trait`, `!`).
fn fake_return(output: &ReturnType) -> Option<TokenStream> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    if matches!(**ty, Type::Never(_)) || mentions_impl(ty.to_token_stream()) {
        return None;
    }
    let fake = Ident::new("__telemetry_fake_return", Span::mixed_site());
    Some(quote! {
        #[allow(
            unknown_lints,
            unreachable_code,
            clippy::diverging_sub_expression,
            clippy::empty_loop,
            clippy::let_unit_value,
            clippy::needless_return,
        )]
        if false {
            let #fake: #ty = loop {};
            return #fake;
        }
    })
}

fn mentions_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Ident(ident) => ident == "impl",
        TokenTree::Group(group) => mentions_impl(group.stream()),
        _ => false,
    })
}

/// Whether a return type is a `Result`, judged by its last path segment (`Result`,
/// `io::Result<T>`, `anyhow::Result<T>`, ...).
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "Result"),
        Type::Paren(paren) => is_result(&paren.elem),
        Type::Group(group) => is_result(&group.elem),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(tokens: &str) -> syn::Result<Type> {
        syn::parse_str(tokens)
    }

    #[test]
    fn recognizes_results() -> syn::Result<()> {
        assert!(is_result(&ty("Result<u8, E>")?));
        assert!(is_result(&ty("std::io::Result<()>")?));
        assert!(!is_result(&ty("Option<u8>")?));
        assert!(!is_result(&ty("&Result<u8, E>")?));
        Ok(())
    }

    #[test]
    fn fake_return_skips_unwritable_types() -> syn::Result<()> {
        let output = |s: &str| syn::parse_str::<ReturnType>(s);
        assert!(fake_return(&output("-> Result<u8, E>")?).is_some());
        assert!(fake_return(&output("-> Result<impl Display, E>")?).is_none());
        assert!(fake_return(&output("-> !")?).is_none());
        assert!(fake_return(&output("")?).is_none());
        Ok(())
    }

    #[test]
    fn rejects_items_that_are_not_functions() {
        for item in ["struct S;", "const fn f() {}", "fn f(&self);"] {
            let tokens: TokenStream = item.parse().unwrap_or_default();
            assert!(parse_function(tokens).is_err(), "{item}");
        }
    }
}
