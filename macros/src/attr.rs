//! The grammar every attribute of this crate shares: `key = value, flag, ...`.
//!
//! An attribute declares its keys once with [`keys!`]; each key is a `syn::custom_keyword!`
//! token, so a key is matched by its type rather than by comparing strings, and the list of
//! valid keys in the messages cannot drift from the keys actually parsed.
//!
//! Parsing never stops at a mistake it can step over (an unknown or repeated key, a value of
//! the wrong kind): it records the error and goes on, so one build reports all of them. Only a
//! real syntax error (an unparsable value, a missing comma) ends it early.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::quote;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Path, Token};

use crate::errors::Errors;
use crate::suggest::{closest, list};

/// Every key of every attribute. `crate` is missing: it is a Rust keyword, matched as
/// `syn::token::Crate`.
pub mod kw {
    syn::custom_keyword!(id);
    syn::custom_keyword!(input);
    syn::custom_keyword!(name);
    syn::custom_keyword!(description);
    syn::custom_keyword!(scopes);
    syn::custom_keyword!(blocking);
    syn::custom_keyword!(multitask);
    syn::custom_keyword!(requires_confirmation);
    syn::custom_keyword!(requires_user_input);
    syn::custom_keyword!(external_execution);
}

/// The keys of one attribute. Implemented by [`keys!`].
pub trait Key: Copy {
    /// Every key, in the order the messages list them.
    const NAMES: &'static [&'static str];

    /// The next key, if the input starts with one; otherwise nothing is consumed.
    fn parse_known(input: ParseStream) -> syn::Result<Option<Self>>;

    /// The key as written.
    fn name(self) -> &'static str;

    /// The span of the key's token.
    fn span(self) -> Span;
}

/// Declares an enum with one variant per key, each holding its keyword token, and implements
/// [`Key`] for it:
///
/// ```ignore
/// keys! {
///     enum ToolKey {
///         RequiresConfirmation(kw::requires_confirmation) = "requires_confirmation",
///         Crate(syn::token::Crate) = "crate",
///     }
/// }
/// ```
macro_rules! keys {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($variant:ident($token:path) = $text:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy)]
        $vis enum $name {
            $($variant($token),)*
        }

        impl $crate::attr::Key for $name {
            const NAMES: &'static [&'static str] = &[$($text),*];

            fn parse_known(
                input: ::syn::parse::ParseStream,
            ) -> ::syn::Result<::core::option::Option<Self>> {
                $(
                    if input.peek($token) {
                        return input.parse().map(|token| Some($name::$variant(token)));
                    }
                )*
                Ok(None)
            }

            fn name(self) -> &'static str {
                match self {
                    $($name::$variant(_) => $text,)*
                }
            }

            fn span(self) -> ::proc_macro2::Span {
                match self {
                    $($name::$variant(token) => token.span,)*
                }
            }
        }
    };
}
pub(crate) use keys;

/// One string literal of an attribute, with its span for errors about its content.
#[derive(Clone)]
pub struct StrArg {
    pub value: String,
    pub span: Span,
}

/// Parses `args` as a comma-separated list of `K` entries. `entry` is called after each key to
/// parse what follows it (its `= value`, or nothing for a flag), even for a repeated key, so that
/// a bad value is reported either way.
///
/// Returns the keys written, each once, in the order they first appear.
pub fn parse<K: Key>(
    args: TokenStream,
    errors: &mut Errors,
    mut entry: impl FnMut(K, ParseStream, &mut Errors) -> syn::Result<()>,
) -> Vec<K> {
    let mut written: Vec<K> = Vec::new();
    let parser = |input: ParseStream| {
        while !input.is_empty() {
            match K::parse_known(input)? {
                Some(key) => {
                    if written.iter().any(|seen| seen.name() == key.name()) {
                        errors.push(syn::Error::new(
                            key.span(),
                            format!("duplicate key `{}`: give each key once", key.name()),
                        ));
                    } else {
                        written.push(key);
                    }
                    entry(key, input, errors)?;
                }
                None => {
                    // `parse_any`, so that a keyword such as `type` is an unknown key rather
                    // than a syntax error.
                    let unknown = Ident::parse_any(input)?;
                    errors.push(unknown_key::<K>(&unknown));
                    skip_value(input)?;
                }
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(())
    };
    if let Err(error) = parser.parse2(args) {
        errors.push(error);
    }
    written
}

fn unknown_key<K: Key>(unknown: &Ident) -> syn::Error {
    let written = unknown.unraw().to_string();
    let expected = list(K::NAMES);
    let message = match closest(&written, K::NAMES) {
        Some(close) => {
            format!("unknown key `{written}`; did you mean `{close}`? Expected one of {expected}")
        }
        None => format!("unknown key `{written}`; expected one of {expected}"),
    };
    syn::Error::new(unknown.span(), message)
}

/// Steps over the value of an unknown key, so that the keys after it are still checked.
fn skip_value(input: ParseStream) -> syn::Result<()> {
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<TokenTree>()?;
    }
    Ok(())
}

/// Consumes the `=` after `key`. A key written without a value, followed by a comma or by
/// nothing, is reported (`example` shows what to write after the `=`) and `false` returned,
/// so that the other keys are still checked.
pub fn eq<K: Key>(
    input: ParseStream,
    key: K,
    example: &str,
    errors: &mut Errors,
) -> syn::Result<bool> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        return Ok(true);
    }
    let name = key.name();
    let error = syn::Error::new(
        key.span(),
        format!("`{name}` takes a value: write `{name} = {example}`"),
    );
    if input.is_empty() || input.peek(Token![,]) {
        errors.push(error);
        Ok(false)
    } else {
        Err(error)
    }
}

/// `key = "literal"`. A value that is not a string literal is reported and yields `None`.
pub fn str_value<K: Key>(
    input: ParseStream,
    key: K,
    errors: &mut Errors,
) -> syn::Result<Option<StrArg>> {
    if !eq(input, key, "\"...\"", errors)? {
        return Ok(None);
    }
    let name = key.name();
    match input.parse::<Expr>()? {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(Some(StrArg {
            value: lit.value(),
            span: lit.span(),
        })),
        other => {
            errors.push(syn::Error::new_spanned(
                other,
                format!("`{name}` must be a string literal, like `{name} = \"...\"`"),
            ));
            Ok(None)
        }
    }
}

/// What the messages of [`str_list`] call one element, and one to show as an example.
pub struct ListShape<'a> {
    /// One element, for "each ... must be a string literal": `scope`, `field`.
    pub element: &'a str,
    /// An element's text, shown when the user's own value cannot be quoted.
    pub example: &'a str,
}

/// `key = ["a", "b"]`. A value that is not an array is reported and yields `None`; an element
/// that is not a string literal is reported and left out.
///
/// The suggested fix quotes what the user wrote when it is a word or a lone string, since that
/// is most often the mistake (`scopes = "a:b"`, `fields = [to]`).
pub fn str_list<K: Key>(
    input: ParseStream,
    key: K,
    shape: &ListShape,
    errors: &mut Errors,
) -> syn::Result<Option<Vec<StrArg>>> {
    let name = key.name();
    if !eq(input, key, &format!("[\"{}\"]", shape.example), errors)? {
        return Ok(None);
    }
    let value: Expr = input.parse()?;
    let Expr::Array(array) = value else {
        let example = quotable(&value).unwrap_or_else(|| shape.example.to_owned());
        errors.push(syn::Error::new_spanned(
            value,
            format!(
                "`{name}` must be an array of string literals, like `{name} = [\"{example}\"]`"
            ),
        ));
        return Ok(None);
    };
    let mut items = Vec::with_capacity(array.elems.len());
    for element in array.elems {
        match element {
            Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) => items.push(StrArg {
                value: lit.value(),
                span: lit.span(),
            }),
            other => {
                let example = quotable(&other).unwrap_or_else(|| shape.example.to_owned());
                errors.push(syn::Error::new_spanned(
                    other,
                    format!(
                        "each {} must be a string literal, like `\"{example}\"`",
                        shape.element
                    ),
                ));
            }
        }
    }
    Ok(Some(items))
}

/// The text a value most likely meant as a string: a lone word or a string literal.
fn quotable(value: &Expr) -> Option<String> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(lit.value()),
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => {
            path.path.get_ident().map(|ident| ident.unraw().to_string())
        }
        _ => None,
    }
}

/// `key = path` or `key = "path"`, as `crate = ...` takes it.
pub fn path_value<K: Key>(
    input: ParseStream,
    key: K,
    errors: &mut Errors,
) -> syn::Result<Option<Path>> {
    if !eq(input, key, "path", errors)? {
        return Ok(None);
    }
    let path = if input.peek(LitStr) {
        input.parse::<LitStr>()?.parse::<Path>()?
    } else {
        Path::parse_mod_style(input)?
    };
    Ok(Some(path))
}

/// A flag, a key without a value. A value given anyway is reported over `key = value`, and the
/// flag still counts as written, so that no other error follows from its absence.
pub fn flag<K: Key>(input: ParseStream, key: K, errors: &mut Errors) -> syn::Result<Span> {
    if input.peek(Token![=]) {
        let eq: Token![=] = input.parse()?;
        let value: Expr = input.parse()?;
        let name = key.name();
        let off = matches!(
            &value,
            Expr::Lit(ExprLit {
                lit: Lit::Bool(lit), ..
            }) if !lit.value
        );
        let message = if off {
            format!("`{name}` is a flag and takes no value: to leave it off, remove `{name}`")
        } else {
            format!("`{name}` is a flag and takes no value: write `{name}` alone")
        };
        let key_ident = Ident::new(name, key.span());
        errors.push(syn::Error::new_spanned(
            quote!(#key_ident #eq #value),
            message,
        ));
    }
    Ok(key.span())
}

/// Stores `value` in `slot` unless a value is already there: a repeated key (already reported)
/// keeps its first value.
pub fn keep_first<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    keys! {
        enum TestKey {
            Name(kw::name) = "name",
            Blocking(kw::blocking) = "blocking",
            Scopes(kw::scopes) = "scopes",
            Crate(syn::token::Crate) = "crate",
        }
    }

    #[derive(Default, Debug, PartialEq)]
    struct Parsed {
        name: Option<String>,
        blocking: bool,
        scopes: Option<Vec<String>>,
        krate: Option<String>,
    }

    /// Parses `args`, returning what was parsed and every message.
    fn run(args: TokenStream) -> (Parsed, Vec<String>) {
        let mut errors = Errors::default();
        let mut parsed = Parsed::default();
        let shape = ListShape {
            element: "scope",
            example: "teams:run",
        };
        parse(args, &mut errors, |key: TestKey, input, errors| {
            match key {
                TestKey::Name(_) => keep_first(
                    &mut parsed.name,
                    str_value(input, key, errors)?.map(|s| s.value),
                ),
                TestKey::Blocking(_) => {
                    flag(input, key, errors)?;
                    parsed.blocking = true;
                }
                TestKey::Scopes(_) => keep_first(
                    &mut parsed.scopes,
                    str_list(input, key, &shape, errors)?
                        .map(|items| items.into_iter().map(|s| s.value).collect()),
                ),
                TestKey::Crate(_) => keep_first(
                    &mut parsed.krate,
                    path_value(input, key, errors)?
                        .map(|path| quote!(#path).to_string().replace(' ', "")),
                ),
            }
            Ok(())
        });
        let messages = match errors.into_result() {
            Ok(()) => Vec::new(),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        };
        (parsed, messages)
    }

    #[test]
    fn parses_every_kind_of_value() {
        let (parsed, messages) = run(quote!(
            name = "Support",
            blocking,
            scopes = ["a", "b"],
            crate = my::agentos,
        ));
        assert_eq!(messages, Vec::<String>::new());
        assert_eq!(
            parsed,
            Parsed {
                name: Some("Support".into()),
                blocking: true,
                scopes: Some(vec!["a".into(), "b".into()]),
                krate: Some("my::agentos".into()),
            }
        );
        let (parsed, _) = run(quote!(crate = "::renamed"));
        assert_eq!(parsed.krate.as_deref(), Some("::renamed"));
    }

    #[test]
    fn reports_every_mistake_and_keeps_going() {
        let (parsed, messages) = run(quote!(
            title = "x",
            name = 3,
            name = "Second",
            blocking = true,
            scopes = [admin, "ok"],
            nmae = "y"
        ));
        assert_eq!(
            messages,
            [
                "unknown key `title`; expected one of `name`, `blocking`, `scopes`, `crate`",
                "`name` must be a string literal, like `name = \"...\"`",
                "duplicate key `name`: give each key once",
                "`blocking` is a flag and takes no value: write `blocking` alone",
                "each scope must be a string literal, like `\"admin\"`",
                "unknown key `nmae`; did you mean `name`? Expected one of `name`, `blocking`, `scopes`, `crate`",
            ]
        );
        // The first `name` had no usable value, so the repeat fills the slot; the build fails
        // on the duplicate anyway, this only keeps later checks from piling on.
        assert_eq!(parsed.name.as_deref(), Some("Second"));
        assert!(parsed.blocking);
        assert_eq!(parsed.scopes, Some(vec!["ok".into()]));
    }

    #[test]
    fn a_key_without_its_value_is_reported_and_skipped() {
        let (parsed, messages) = run(quote!(name, blocking));
        assert_eq!(messages, ["`name` takes a value: write `name = \"...\"`"]);
        assert!(parsed.blocking);
    }

    #[test]
    fn a_flag_set_to_false_is_told_to_be_removed() {
        let (_, messages) = run(quote!(blocking = false));
        assert_eq!(
            messages,
            ["`blocking` is a flag and takes no value: to leave it off, remove `blocking`"]
        );
    }

    #[test]
    fn a_list_that_is_not_an_array_suggests_one() {
        let (_, messages) = run(quote!(scopes = "teams:run"));
        assert_eq!(
            messages,
            ["`scopes` must be an array of string literals, like `scopes = [\"teams:run\"]`"]
        );
        let (_, messages) = run(quote!(scopes = 7));
        assert_eq!(
            messages,
            ["`scopes` must be an array of string literals, like `scopes = [\"teams:run\"]`"]
        );
    }

    #[test]
    fn a_keyword_is_an_unknown_key_not_a_syntax_error() {
        let (parsed, messages) = run(quote!(type = "x", blocking));
        assert_eq!(
            messages,
            ["unknown key `type`; expected one of `name`, `blocking`, `scopes`, `crate`"]
        );
        assert!(parsed.blocking);
    }
}
