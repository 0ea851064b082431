//! Checks of the parsed arguments and of the function's shape.
//!
//! Only what the macro can see syntactically is checked here. Everything about types (the
//! input's traits, the context's type, the return type, `Send`) is left to rustc through
//! generated code carrying the user's spans; see `expand.rs`.

use proc_macro2::Span;
use syn::{FnArg, ItemFn, Path, ReturnType, Type};

use agentos_core::{IdError, MAX_ID_LEN, check_id, slugify};

use super::Kind;
use super::args::FactoryArgs;
use crate::attr::StrArg;
use crate::errors::Errors;

/// A factory whose arguments and function passed every syntactic check.
pub struct Factory {
    pub kind: Kind,
    pub id: String,
    pub input: Option<Type>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub scopes: Vec<StrArg>,
    pub blocking: bool,
    /// The `MultitaskStrategy` variant named by `multitask = "..."`.
    pub multitask: Option<syn::Ident>,
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
        None if args.id_written => {}
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

    let multitask = match &args.multitask {
        None => None,
        Some(value) => match multitask_variant(&value.value) {
            Some(variant) => Some(syn::Ident::new(variant, value.span)),
            None => {
                fail(syn::Error::new(
                    value.span,
                    format!(
                        "`multitask` must be one of \"allow\", \"reject\", \"enqueue\" or \"interrupt\", not {:?}",
                        value.value
                    ),
                ));
                None
            }
        },
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
        multitask,
        krate: args.krate(),
        func: func.clone(),
        context,
        output,
    })
}

/// The `MultitaskStrategy` variant a `multitask = "..."` value names.
fn multitask_variant(value: &str) -> Option<&'static str> {
    match value {
        "allow" => Some("Allow"),
        "reject" => Some("Reject"),
        "enqueue" => Some("Enqueue"),
        "interrupt" => Some("Interrupt"),
        _ => None,
    }
}

fn input_name(input: &Option<Type>) -> String {
    match input {
        Some(ty) => quote::quote!(#ty).to_string().replace(' ', ""),
        None => "()".to_owned(),
    }
}

/// [`check_id`], with a message saying what to write instead.
fn check_slug(id: &str) -> Result<(), String> {
    const RULE: &str = "use lowercase ASCII letters, digits, `-` and `_`";
    match check_id(id) {
        Ok(()) => Ok(()),
        Err(IdError::Empty) => Err(format!("`id` cannot be empty; {RULE}")),
        Err(IdError::TooLong { len }) => Err(format!(
            "`id` is {len} characters long; it may have at most {MAX_ID_LEN}"
        )),
        Err(IdError::InvalidChar { found, .. }) => {
            // The id agno would derive from the same text, when that one is valid: most bad
            // ids are a display name written where the slug goes.
            let slug = slugify(id);
            let hint = if check_id(&slug).is_ok() {
                format!(", e.g. `\"{slug}\"`")
            } else {
                String::new()
            };
            Err(format!(
                "`id` must be a slug: {found:?} is not allowed; {RULE}{hint}"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_slug;

    #[test]
    fn a_bad_id_is_answered_with_the_slug_of_it() {
        assert_eq!(
            check_slug("Support Team").unwrap_err(),
            "`id` must be a slug: 'S' is not allowed; use lowercase ASCII letters, digits, `-` and `_`, e.g. `\"support-team\"`"
        );
        assert!(
            check_slug("team.v2")
                .unwrap_err()
                .ends_with("e.g. `\"team-v2\"`")
        );
    }

    #[test]
    fn no_slug_is_suggested_when_none_would_be_valid() {
        let message = check_slug("日本").unwrap_err();
        assert!(message.starts_with("`id` must be a slug: '日' is not allowed"));
        assert!(!message.contains("e.g."));
    }

    #[test]
    fn empty_and_long_ids_say_so() {
        assert_eq!(
            check_slug("").unwrap_err(),
            "`id` cannot be empty; use lowercase ASCII letters, digits, `-` and `_`"
        );
        assert_eq!(
            check_slug(&"a".repeat(65)).unwrap_err(),
            "`id` is 65 characters long; it may have at most 64"
        );
        assert_eq!(check_slug(&"a".repeat(64)), Ok(()));
    }
}
