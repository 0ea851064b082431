//! `#[tool]`: a function becomes a value implementing `ToolFunction`, its parameters the
//! fields of a generated arguments struct whose JSON Schema the model sees.

mod expand;
mod parse;

use proc_macro2::TokenStream;
use syn::{Item, ItemFn};

use crate::errors::{Errors, describe_item};

/// Expands `#[tool(args)]` on `item`.
pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let parsed = syn::parse2::<Item>(item.clone());
    // Read before the arguments only to quote a real parameter in their messages.
    let example_field = match &parsed {
        Ok(Item::Fn(func)) => parse::first_param_name(func),
        _ => None,
    };
    let args = parse::parse_args(
        args,
        example_field.as_deref().unwrap_or("field"),
        &mut errors,
    );

    let func: ItemFn = match parsed {
        Ok(Item::Fn(func)) => func,
        Ok(other) => {
            let (what, span) = describe_item(&other);
            errors.push(syn::Error::new(
                span,
                format!("`#[tool]` goes on a function, not on {what}"),
            ));
            return with_errors(item, errors);
        }
        Err(_) => return item,
    };

    let tool = parse::validate(&func, &args, &mut errors);
    match (tool, errors.is_empty()) {
        (Some(tool), true) => expand::tool(&tool),
        _ if func.sig.receiver().is_some() => with_errors(item, errors),
        _ => with_errors(expand::fallback(&func, &args.krate()), errors),
    }
}

fn with_errors(item: TokenStream, errors: Errors) -> TokenStream {
    let mut tokens = item;
    if let Err(error) = errors.into_result() {
        tokens.extend(error.to_compile_error());
    }
    tokens
}
