//! The arguments of `#[traced(...)]`.
//!
//! Parsed by hand rather than with `syn::meta` because attribute keys may be string
//! literals (`"http.route" = ...`), which are not paths.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitStr, Path, Token, parenthesized};

/// Everything `#[traced(...)]` was given.
#[derive(Default)]
pub(crate) struct Options {
    /// `name = "..."`: the span name, instead of the function's path.
    pub(crate) name: Option<LitStr>,
    /// `kind = "..."`: the span kind, instead of internal.
    pub(crate) kind: Option<Kind>,
    /// `attributes(key = value, ...)`: attributes set at span start.
    pub(crate) attributes: Option<Vec<Attribute>>,
    /// `fields(arg, ...)` or `record(arg, ...)`: arguments recorded as attributes.
    pub(crate) fields: Option<Vec<Ident>>,
    /// `crate = path`: where the facade (its `__private` module) is.
    pub(crate) krate: Option<Path>,
}

/// A span kind, as `kind = "..."` names it.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

/// One `key = value` of `attributes(...)`.
pub(crate) struct Attribute {
    /// The key as the span will carry it: a literal's value, or dotted idents joined by `.`.
    pub(crate) key: String,
    /// Where the key was written, for the generated literal.
    pub(crate) key_span: Span,
    /// Any expression `KeyValue::new` accepts as a value.
    pub(crate) value: Expr,
}

const EXPECTED_OPTIONS: &str =
    "expected `name`, `kind`, `attributes`, `fields` (or `record`) or `crate`";

impl Parse for Options {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut options = Options::default();
        while !input.is_empty() {
            // `parse_any` so that `crate` is accepted as an option name.
            let option = Ident::parse_any(input)?;
            match option.to_string().as_str() {
                "name" => {
                    input.parse::<Token![=]>()?;
                    set_once(&mut options.name, &option, input.parse()?)?;
                }
                "kind" => {
                    input.parse::<Token![=]>()?;
                    let kind = Kind::parse_lit(&input.parse()?)?;
                    set_once(&mut options.kind, &option, kind)?;
                }
                "attributes" => {
                    let content;
                    parenthesized!(content in input);
                    let entries = Punctuated::<Attribute, Token![,]>::parse_terminated(&content)?;
                    set_once(
                        &mut options.attributes,
                        &option,
                        entries.into_iter().collect(),
                    )?;
                }
                "fields" | "record" => {
                    let content;
                    parenthesized!(content in input);
                    let names = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?;
                    set_once(&mut options.fields, &option, names.into_iter().collect())?;
                }
                "crate" => {
                    input.parse::<Token![=]>()?;
                    let path = if input.peek(LitStr) {
                        input.parse::<LitStr>()?.parse()?
                    } else {
                        Path::parse_mod_style(input)?
                    };
                    set_once(&mut options.krate, &option, path)?;
                }
                _ => {
                    let message =
                        format!("unknown `#[traced]` option `{option}`; {EXPECTED_OPTIONS}");
                    return Err(syn::Error::new(option.span(), message));
                }
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(options)
    }
}

/// Stores `value` unless the option was already given.
fn set_once<T>(slot: &mut Option<T>, option: &Ident, value: T) -> syn::Result<()> {
    if slot.is_some() {
        let message = format!("`{option}` is given more than once");
        return Err(syn::Error::new(option.span(), message));
    }
    *slot = Some(value);
    Ok(())
}

impl Kind {
    fn parse_lit(lit: &LitStr) -> syn::Result<Kind> {
        Ok(match lit.value().as_str() {
            "internal" => Kind::Internal,
            "server" => Kind::Server,
            "client" => Kind::Client,
            "producer" => Kind::Producer,
            "consumer" => Kind::Consumer,
            other => {
                let message = format!(
                    "unknown span kind `{other}`; expected \"internal\", \"server\", \
                     \"client\", \"producer\" or \"consumer\""
                );
                return Err(syn::Error::new(lit.span(), message));
            }
        })
    }

    /// The `SpanKind` variant's name.
    pub(crate) fn variant(self) -> &'static str {
        match self {
            Kind::Internal => "Internal",
            Kind::Server => "Server",
            Kind::Client => "Client",
            Kind::Producer => "Producer",
            Kind::Consumer => "Consumer",
        }
    }
}

impl Parse for Attribute {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let (key, key_span) = if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            (lit.value(), lit.span())
        } else {
            // `http.request.method = ...`: idents joined by dots; keywords allowed.
            let first = Ident::parse_any(input)?;
            let mut key = first.unraw().to_string();
            while input.peek(Token![.]) {
                input.parse::<Token![.]>()?;
                key.push('.');
                key.push_str(&Ident::parse_any(input)?.unraw().to_string());
            }
            (key, first.span())
        };
        if key.is_empty() {
            return Err(syn::Error::new(
                key_span,
                "an attribute key must not be empty",
            ));
        }
        input.parse::<Token![=]>()?;
        let value = input.parse()?;
        Ok(Attribute {
            key,
            key_span,
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(tokens: &str) -> syn::Result<Options> {
        syn::parse_str(tokens)
    }

    fn error(tokens: &str) -> String {
        match parse(tokens) {
            Ok(_) => panic!("`{tokens}` parsed"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn parses_every_option() -> syn::Result<()> {
        let options = parse(
            r#"name = "custom", kind = "client", attributes(a = 1, "b.c" = x + 1, d.e.r#type = "s",),
               fields(x, y), crate = ::telemetry"#,
        )?;
        assert_eq!(options.name.map(|n| n.value()).as_deref(), Some("custom"));
        assert_eq!(options.kind.map(Kind::variant), Some("Client"));
        let keys: Vec<String> = options
            .attributes
            .unwrap_or_default()
            .into_iter()
            .map(|a| a.key)
            .collect();
        assert_eq!(keys, ["a", "b.c", "d.e.type"]);
        let fields: Vec<String> = options
            .fields
            .unwrap_or_default()
            .iter()
            .map(Ident::to_string)
            .collect();
        assert_eq!(fields, ["x", "y"]);
        assert!(options.krate.is_some_and(|p| p.leading_colon.is_some()));
        Ok(())
    }

    #[test]
    fn empty_and_aliases() -> syn::Result<()> {
        let options = parse("")?;
        assert!(options.name.is_none() && options.fields.is_none());
        let options = parse(r#"record(a), crate = "my::path""#)?;
        assert_eq!(options.fields.map(|f| f.len()), Some(1));
        assert_eq!(options.krate.map(|p| p.segments.len()), Some(2));
        Ok(())
    }

    #[test]
    fn rejects_bad_input() {
        assert!(error("nmae = \"x\"").starts_with("unknown `#[traced]` option `nmae`"));
        assert!(error("kind = \"serve\"").starts_with("unknown span kind `serve`"));
        assert_eq!(
            error("name = \"a\", name = \"b\""),
            "`name` is given more than once"
        );
        assert_eq!(
            error("attributes(\"\" = 1)"),
            "an attribute key must not be empty"
        );
        assert!(parse("name = x").is_err());
        assert!(parse("name = \"a\" kind = \"server\"").is_err());
    }
}
