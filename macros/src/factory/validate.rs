//! Checks of the parsed arguments and of the function's shape.
//!
//! Only what the macro can see syntactically is checked here. Everything about types (the
//! input's traits, the context's type, the return type, `Send`) is left to rustc through
//! generated code carrying the user's spans; see `expand.rs`.

use proc_macro2::Span;
use syn::{FnArg, ItemFn, Path, ReturnType, Type};

use super::Kind;
use super::args::{FactoryArgs, StrArg};
use crate::errors::Errors;

/// The longest id a route accepts.
const MAX_ID_LEN: usize = 64;

/// A factory whose arguments and function passed every syntactic check.
pub struct Factory {
    pub kind: Kind,
    pub id: String,
    pub input: Option<Type>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub scopes: Vec<StrArg>,
    pub blocking: bool,
    pub krate: Path,
    pub func: ItemFn,
    /// The type of the context parameter, when the function takes one.
    pub context: Option<Type>,
    /// The declared return type.
    pub output: Type,
}

/// Validates `args` and `func`, pushing every mistake into `errors`. Returns the factory only
/// when nothing was wrong.
pub fn validate(
    kind: Kind,
    args: &FactoryArgs,
    func: &ItemFn,
    errors: &mut Errors,
) -> Option<Factory> {
    let mut ok = true;
    let mut fail = |error: syn::Error| {
        ok = false;
        errors.push(error);
    };

    match &args.id {
        Some(id) => {
            if let Err(message) = check_slug(&id.value) {
                fail(syn::Error::new(id.span, message));
            }
        }
        // Given, but not as a string literal: already reported.
        None if args.seen.iter().any(|key| key == "id") => {}
        None => fail(syn::Error::new(
            Span::call_site(),
            format!(
                "missing `id`: write `#[{}(id = \"my-{}\", ...)]`",
                kind.attribute(),
                kind.noun()
            ),
        )),
    }

    let sig = &func.sig;
    if let Some(blocking) = args.blocking
        && sig.asyncness.is_some()
    {
        fail(syn::Error::new(
            blocking,
            "`blocking` runs a sync function on the blocking thread pool; it cannot be used on an `async fn`",
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        fail(syn::Error::new(
            unsafety.span,
            "a factory cannot be an `unsafe fn`",
        ));
    }
    if let Some(abi) = &sig.abi {
        fail(syn::Error::new_spanned(
            abi,
            "a factory cannot declare an `extern` ABI",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        fail(syn::Error::new_spanned(
            variadic,
            "a factory cannot be variadic",
        ));
    }
    if !sig.generics.params.is_empty() {
        fail(syn::Error::new_spanned(
            &sig.generics.params,
            "a factory cannot be generic: the server calls it with one concrete input type",
        ));
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        fail(syn::Error::new_spanned(
            where_clause,
            "a factory cannot have a `where` clause",
        ));
    }

    let mut context = None;
    for (index, param) in sig.inputs.iter().enumerate() {
        match param {
            FnArg::Receiver(receiver) => fail(syn::Error::new_spanned(
                receiver,
                "a factory is a free function and cannot take `self`",
            )),
            FnArg::Typed(typed) if index == 0 => context = Some((*typed.ty).clone()),
            FnArg::Typed(typed) => fail(syn::Error::new_spanned(
                typed,
                format!(
                    "a factory takes at most one parameter, its `RequestContext<{}>`",
                    input_name(&args.input)
                ),
            )),
        }
    }

    let output = match &sig.output {
        ReturnType::Type(_, ty) => Some((**ty).clone()),
        ReturnType::Default => {
            fail(syn::Error::new(
                sig.paren_token.span.close(),
                format!(
                    "missing return type: a {} factory returns `{}` or `Result<{}, E>`",
                    kind.noun(),
                    kind.component(),
                    kind.component()
                ),
            ));
            None
        }
    };

    if !ok {
        return None;
    }
    let (Some(id), Some(output)) = (&args.id, output) else {
        return None;
    };
    Some(Factory {
        kind,
        id: id.value.clone(),
        input: args.input.clone(),
        name: args.name.as_ref().map(|name| name.value.clone()),
        description: args.description.as_ref().map(|d| d.value.clone()),
        scopes: args.scopes.clone().unwrap_or_default(),
        blocking: args.blocking.is_some(),
        krate: args.krate(),
        func: func.clone(),
        context,
        output,
    })
}

fn input_name(input: &Option<Type>) -> String {
    match input {
        Some(ty) => quote::quote!(#ty).to_string().replace(' ', ""),
        None => "()".to_owned(),
    }
}

/// The id rule of `agentos_runtime::is_valid_id`, with a message saying what is wrong.
fn check_slug(id: &str) -> Result<(), String> {
    const RULE: &str = "use lowercase ASCII letters, digits, `-` and `_`";
    if id.is_empty() {
        return Err(format!("`id` cannot be empty; {RULE}"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(format!(
            "`id` is {} characters long; it may have at most {MAX_ID_LEN}",
            id.len()
        ));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
    {
        let hint = if id.chars().any(|c| c.is_ascii_uppercase() || c == ' ') {
            let slug: String = id
                .chars()
                .map(|c| {
                    if c == ' ' {
                        '-'
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect();
            format!(", e.g. `\"{slug}\"`")
        } else {
            String::new()
        };
        return Err(format!(
            "`id` must be a slug: {bad:?} is not allowed; {RULE}{hint}"
        ));
    }
    Ok(())
}
