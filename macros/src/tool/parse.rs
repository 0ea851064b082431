//! Parsing and validation of a `#[tool]` function and of its arguments.

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::{Attribute, FnArg, Ident, ItemFn, Pat, Path, ReturnType, Type};

use crate::attr::{self, keep_first};
use crate::errors::Errors;

attr::keys! {
    /// The keys `#[tool]` takes.
    enum Key {
        Crate(syn::token::Crate) = "crate",
    }
}

/// One parameter: a field of the arguments struct.
pub struct Param {
    /// The identifier as written, `r#for` included: the field of the arguments struct.
    pub ident: Ident,
    /// The name the model sees and sends, `for` for `r#for`.
    pub name: String,
    pub ty: Type,
    pub docs: Vec<Attribute>,
}

/// A tool function that passed every syntactic check.
pub struct Tool {
    pub krate: Path,
    pub func: ItemFn,
    /// The tool's name, the function's without `r#`.
    pub name: String,
    pub params: Vec<Param>,
    /// The return type, `None` for `()`.
    pub output: Option<Type>,
}

/// The arguments of `#[tool(...)]`, as written.
#[derive(Default)]
pub struct ToolArgs {
    pub krate: Option<Path>,
}

impl ToolArgs {
    /// The path of the `agentos` crate: `crate = path`, or `::agentos`.
    pub fn krate(&self) -> Path {
        self.krate
            .clone()
            .unwrap_or_else(|| syn::parse_quote!(::agentos))
    }
}

/// Parses `#[tool(...)]`'s arguments, pushing every mistake into `errors`.
pub fn parse_args(args: TokenStream, errors: &mut Errors) -> ToolArgs {
    let mut parsed = ToolArgs::default();
    attr::parse(args, errors, |key: Key, input, errors| {
        match key {
            Key::Crate(_) => keep_first(&mut parsed.krate, attr::path_value(input, key, errors)?),
        }
        Ok(())
    });
    parsed
}

fn is_doc(attr: &Attribute) -> bool {
    attr.path().is_ident("doc")
}

/// Checks the function; pushes every mistake into `errors`.
pub fn validate(func: &ItemFn, args: &ToolArgs, errors: &mut Errors) -> Option<Tool> {
    let mut ok = true;
    let mut fail = |error: syn::Error| {
        ok = false;
        errors.push(error);
    };
    let sig = &func.sig;
    if !sig.generics.params.is_empty() {
        fail(syn::Error::new_spanned(
            &sig.generics.params,
            "a tool cannot be generic: its arguments have one JSON Schema",
        ));
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        fail(syn::Error::new_spanned(
            where_clause,
            "a tool cannot have a `where` clause",
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        fail(syn::Error::new(
            unsafety.span,
            "a tool cannot be an `unsafe fn`",
        ));
    }
    if let Some(abi) = &sig.abi {
        fail(syn::Error::new_spanned(
            abi,
            "a tool cannot declare an `extern` ABI",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        fail(syn::Error::new_spanned(
            variadic,
            "a tool cannot be variadic",
        ));
    }

    let mut params = Vec::new();
    for param in &sig.inputs {
        match param {
            FnArg::Receiver(receiver) => fail(syn::Error::new_spanned(
                receiver,
                "a tool is a free function and cannot take `self`",
            )),
            FnArg::Typed(typed) => match &*typed.pat {
                Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                    params.push(Param {
                        ident: pat.ident.clone(),
                        name: pat.ident.unraw().to_string(),
                        ty: (*typed.ty).clone(),
                        docs: typed.attrs.iter().filter(|a| is_doc(a)).cloned().collect(),
                    })
                }
                other => fail(syn::Error::new_spanned(
                    other,
                    "a tool parameter must be a plain name: it becomes the argument's name in the JSON Schema the model sees",
                )),
            },
        }
    }

    if !ok {
        return None;
    }
    let output = match &sig.output {
        ReturnType::Type(_, ty) => Some((**ty).clone()),
        ReturnType::Default => None,
    };
    Some(Tool {
        krate: args.krate(),
        func: func.clone(),
        name: sig.ident.unraw().to_string(),
        params,
        output,
    })
}

/// The function with doc comments removed from its parameters (rustc refuses them there).
pub fn strip_param_docs(func: &mut ItemFn) {
    for param in &mut func.sig.inputs {
        if let FnArg::Typed(typed) = param {
            typed.attrs.retain(|attr| !is_doc(attr));
        }
    }
}
