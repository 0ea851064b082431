//! `#[team_factory]` and `#[agent_factory]`: parse the arguments, validate them with the
//! function, expand.

mod args;
mod expand;
mod kind;
mod validate;

use proc_macro2::TokenStream;
use syn::{Item, ItemFn};

use crate::errors::{Errors, describe_item};
use args::FactoryArgs;
pub use kind::Kind;

/// Expands `#[team_factory(args)]` / `#[agent_factory(args)]` on `item`.
pub fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = FactoryArgs::parse(args, &mut errors);

    let func: ItemFn = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(func)) => func,
        Ok(other) => {
            errors.push(not_a_function(kind, &other));
            return with_errors(item, errors);
        }
        // Not an item at all: rustc reports the syntax error itself.
        Err(_) => return item,
    };

    let factory = validate::validate(kind, &args, &func, &mut errors);
    match (factory, errors.is_empty()) {
        (Some(factory), true) => expand::factory(&factory),
        // A method is inside an `impl` block, where no struct can be defined: keep it as is.
        _ if func.sig.receiver().is_some() => with_errors(item, errors),
        // Still define the factory, so that its uses do not fail too.
        _ => with_errors(expand::fallback(kind, &args, &func), errors),
    }
}

/// The item as written, followed by the errors.
fn with_errors(item: TokenStream, errors: Errors) -> TokenStream {
    let mut tokens = item;
    if let Err(error) = errors.into_result() {
        tokens.extend(error.to_compile_error());
    }
    tokens
}

fn not_a_function(kind: Kind, item: &Item) -> syn::Error {
    let (what, span) = describe_item(item);
    syn::Error::new(
        span,
        format!(
            "`#[{}]` goes on a function that builds a {}, not on {what}",
            kind.attribute(),
            kind.noun()
        ),
    )
}
