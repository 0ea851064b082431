//! Parsing of the attribute's arguments: `id = "...", input = Type, blocking, ...`.
//!
//! Parsing records every key it can make sense of and every mistake it finds, so one run of the
//! compiler reports all of them. Only a syntax error (a missing `=`, an unparsable value) stops
//! it early.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Path, Token, Type};

use crate::errors::Errors;

/// One string-valued key, with the literal it came from.
#[derive(Clone)]
pub struct StrArg {
    pub value: String,
    pub span: Span,
}

/// The arguments of `#[team_factory(...)]` / `#[agent_factory(...)]`, as written.
#[derive(Default)]
pub struct FactoryArgs {
    pub id: Option<StrArg>,
    pub input: Option<Type>,
    pub name: Option<StrArg>,
    pub description: Option<StrArg>,
    pub scopes: Option<Vec<StrArg>>,
    /// The span of the `blocking` flag, when present.
    pub blocking: Option<Span>,
    pub krate: Option<Path>,
    /// Every key written, valid value or not, to report repetitions and not report a key
    /// with a bad value as missing.
    pub seen: Vec<String>,
}

impl FactoryArgs {
    /// The path of the `agentos` crate: `crate = path`, or `::agentos`.
    pub fn krate(&self) -> Path {
        self.krate
            .clone()
            .unwrap_or_else(|| syn::parse_quote!(::agentos))
    }
}

const KEYS: &str = "`id`, `input`, `name`, `description`, `scopes`, `blocking`, `crate`";

impl FactoryArgs {
    /// Parses `args`, pushing every mistake into `errors`.
    pub fn parse(args: TokenStream, errors: &mut Errors) -> FactoryArgs {
        let mut parsed = FactoryArgs::default();
        let parser = |input: ParseStream| {
            while !input.is_empty() {
                parsed.parse_entry(input, errors)?;
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
        parsed
    }

    fn parse_entry(&mut self, input: ParseStream, errors: &mut Errors) -> syn::Result<()> {
        // `Ident::parse_any` so that the keyword `crate` is accepted as a key.
        let key = Ident::parse_any(input)?;
        let name = key.to_string();
        if self.seen.contains(&name) {
            errors.push(syn::Error::new(
                key.span(),
                format!("duplicate key `{key}`"),
            ));
        } else {
            self.seen.push(name.clone());
        }
        match name.as_str() {
            "id" => {
                let value = parse_str_value(input, &key, errors)?;
                set_once(&mut self.id, value);
            }
            "name" => {
                let value = parse_str_value(input, &key, errors)?;
                set_once(&mut self.name, value);
            }
            "description" => {
                let value = parse_str_value(input, &key, errors)?;
                set_once(&mut self.description, value);
            }
            "input" => {
                expect_eq(input, &key)?;
                let ty: Type = input.parse()?;
                set_once(&mut self.input, Some(ty));
            }
            "scopes" => {
                expect_eq(input, &key)?;
                let value: Expr = input.parse()?;
                let scopes = parse_scopes(value, errors);
                set_once(&mut self.scopes, scopes);
            }
            "blocking" => {
                if input.peek(Token![=]) {
                    errors.push(syn::Error::new(
                        key.span(),
                        "`blocking` is a flag and takes no value: write `blocking`",
                    ));
                    input.parse::<Token![=]>()?;
                    input.parse::<Expr>()?;
                }
                set_once(&mut self.blocking, Some(key.span()));
            }
            "crate" => {
                expect_eq(input, &key)?;
                let path = if input.peek(LitStr) {
                    input.parse::<LitStr>()?.parse::<Path>()?
                } else {
                    Path::parse_mod_style(input)?
                };
                set_once(&mut self.krate, Some(path));
            }
            _ => {
                errors.push(syn::Error::new(
                    key.span(),
                    format!("unknown key `{name}`; expected one of {KEYS}"),
                ));
                // Skip the value so the following keys are still checked.
                while !input.is_empty() && !input.peek(Token![,]) {
                    input.parse::<proc_macro2::TokenTree>()?;
                }
            }
        }
        Ok(())
    }
}

fn expect_eq(input: ParseStream, key: &Ident) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        Ok(())
    } else {
        Err(syn::Error::new(
            key.span(),
            format!("expected `{key} = ...`"),
        ))
    }
}

/// Parses `= "literal"`. A value that is not a string literal is reported and yields `None`.
fn parse_str_value(
    input: ParseStream,
    key: &Ident,
    errors: &mut Errors,
) -> syn::Result<Option<StrArg>> {
    expect_eq(input, key)?;
    let value: Expr = input.parse()?;
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(Some(StrArg {
            value: lit.value(),
            span: lit.span(),
        })),
        other => {
            errors.push(syn::Error::new_spanned(
                other,
                format!("`{key}` must be a string literal, like `{key} = \"...\"`"),
            ));
            Ok(None)
        }
    }
}

fn parse_scopes(value: Expr, errors: &mut Errors) -> Option<Vec<StrArg>> {
    let Expr::Array(array) = value else {
        errors.push(syn::Error::new_spanned(
            value,
            "`scopes` must be an array of string literals, like `scopes = [\"teams:run\"]`",
        ));
        return None;
    };
    let mut scopes = Vec::with_capacity(array.elems.len());
    for element in array.elems {
        match element {
            Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) => scopes.push(StrArg {
                value: lit.value(),
                span: lit.span(),
            }),
            other => errors.push(syn::Error::new_spanned(
                other,
                "each scope must be a string literal, like `\"teams:run\"`",
            )),
        }
    }
    Some(scopes)
}

/// Stores `value` in `slot` unless the key was already given (reported by the caller).
fn set_once<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}
