//! Parsing and validation of a `#[tool]` function and of its arguments.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::{Attribute, FnArg, Ident, ItemFn, Pat, Path, ReturnType, Type};

use crate::attr::{self, Key as _, ListShape, StrArg, keep_first, kw};
use crate::errors::Errors;
use crate::suggest;

attr::keys! {
    /// The keys `#[tool]` takes.
    enum Key {
        RequiresConfirmation(kw::requires_confirmation) = "requires_confirmation",
        RequiresUserInput(kw::requires_user_input) = "requires_user_input",
        ExternalExecution(kw::external_execution) = "external_execution",
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

/// What a tool waits for before it runs, once checked against the function.
pub enum Pause {
    Confirmation,
    UserInput(Vec<String>),
    ExternalExecution,
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
    pub pause: Option<Pause>,
}

/// What a tool waits for, as written.
enum PauseArg {
    Confirmation,
    /// The named fields; `None` when the value was not a list (already reported).
    UserInput(Option<Vec<StrArg>>),
    ExternalExecution,
}

/// The arguments of `#[tool(...)]`, as written.
#[derive(Default)]
pub struct ToolArgs {
    pub krate: Option<Path>,
    /// The first pause key written, with the span of the key.
    pause: Option<(PauseArg, Span)>,
}

impl ToolArgs {
    /// The path of the `agentos` crate: `crate = path`, or `::agentos`.
    pub fn krate(&self) -> Path {
        self.krate
            .clone()
            .unwrap_or_else(|| syn::parse_quote!(::agentos))
    }
}

/// Parses `#[tool(...)]`'s arguments, pushing every mistake into `errors`. `example_field`
/// stands in for a parameter name in the messages about `requires_user_input`.
pub fn parse_args(args: TokenStream, example_field: &str, errors: &mut Errors) -> ToolArgs {
    let mut parsed = ToolArgs::default();
    let fields = ListShape {
        element: "parameter name",
        example: example_field,
    };
    let mut first_pause: Option<Key> = None;
    attr::parse(args, errors, |key: Key, input, errors| {
        let pause = match key {
            Key::Crate(_) => {
                keep_first(&mut parsed.krate, attr::path_value(input, key, errors)?);
                return Ok(());
            }
            Key::RequiresConfirmation(_) => {
                attr::flag(input, key, errors)?;
                PauseArg::Confirmation
            }
            Key::RequiresUserInput(_) => {
                PauseArg::UserInput(attr::str_list(input, key, &fields, errors)?)
            }
            Key::ExternalExecution(_) => {
                attr::flag(input, key, errors)?;
                PauseArg::ExternalExecution
            }
        };
        match first_pause {
            None => {
                first_pause = Some(key);
                parsed.pause = Some((pause, key.span()));
            }
            // The same key again: `attr::parse` reported it.
            Some(first) if first.name() == key.name() => {}
            Some(first) => errors.push(syn::Error::new(
                key.span(),
                format!(
                    "a tool waits for one thing only, so `{}` cannot be combined with `{}`; keep one of them",
                    key.name(),
                    first.name()
                ),
            )),
        }
        Ok(())
    });
    parsed
}

/// The name the first parameter of `func` would have in the arguments, for examples in messages.
pub fn first_param_name(func: &ItemFn) -> Option<String> {
    func.sig.inputs.iter().find_map(|param| match param {
        FnArg::Typed(typed) => match &*typed.pat {
            Pat::Ident(pat) => Some(pat.ident.unraw().to_string()),
            _ => None,
        },
        FnArg::Receiver(_) => None,
    })
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
    let mut all_plain = true;
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
                other => {
                    all_plain = false;
                    fail(syn::Error::new_spanned(
                        other,
                        "a tool parameter must be a plain name: it becomes the argument's name in the JSON Schema the model sees",
                    ))
                }
            },
        }
    }

    let name = sig.ident.unraw().to_string();
    let pause = match &args.pause {
        None => None,
        Some((PauseArg::Confirmation, _)) => Some(Pause::Confirmation),
        Some((PauseArg::ExternalExecution, _)) => Some(Pause::ExternalExecution),
        // Not a list: reported while parsing.
        Some((PauseArg::UserInput(None), _)) => None,
        Some((PauseArg::UserInput(Some(fields)), key)) => {
            // With a parameter that is not a plain name the list of names is incomplete, and
            // that parameter's own error is the one to fix first.
            if all_plain {
                for error in check_user_input(&name, &params, fields, *key) {
                    fail(error);
                }
            }
            Some(Pause::UserInput(
                fields.iter().map(|field| field.value.clone()).collect(),
            ))
        }
    };

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
        name,
        params,
        output,
        pause,
    })
}

/// The mistakes in `requires_user_input = [...]`: a name that is not a parameter of the tool
/// `tool`, a name given twice, an empty list (reported at the key).
fn check_user_input(tool: &str, params: &[Param], fields: &[StrArg], key: Span) -> Vec<syn::Error> {
    let names: Vec<&str> = params.iter().map(|param| param.name.as_str()).collect();
    let mut errors = Vec::new();
    if params.is_empty() {
        errors.push(syn::Error::new(
            key,
            format!(
                "`{tool}` takes no parameters, so a person has nothing to fill in; remove `requires_user_input`, or use `requires_confirmation` to have each call approved"
            ),
        ));
        return errors;
    }
    if fields.is_empty() {
        errors.push(syn::Error::new(
            key,
            format!(
                "`requires_user_input` lists the parameters a person fills in; name at least one, like `requires_user_input = [\"{}\"]`",
                names[0]
            ),
        ));
    }
    for (index, field) in fields.iter().enumerate() {
        if !names.contains(&field.value.as_str()) {
            let hint = match suggest::closest(&field.value, &names) {
                Some(close) => format!("did you mean `{close}`? Its parameters are"),
                None => "its parameters are".to_owned(),
            };
            errors.push(syn::Error::new(
                field.span,
                format!(
                    "`{}` is not a parameter of `{tool}`; {hint} {}",
                    field.value,
                    suggest::list(&names)
                ),
            ));
        } else if fields[..index].iter().any(|seen| seen.value == field.value) {
            errors.push(syn::Error::new(
                field.span,
                format!(
                    "`{}` is listed twice; name each parameter once",
                    field.value
                ),
            ));
        }
    }
    errors
}

/// The function with doc comments removed from its parameters (rustc refuses them there).
pub fn strip_param_docs(func: &mut ItemFn) {
    for param in &mut func.sig.inputs {
        if let FnArg::Typed(typed) = param {
            typed.attrs.retain(|attr| !is_doc(attr));
        }
    }
}
