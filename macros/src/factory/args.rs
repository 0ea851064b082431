//! The arguments of `#[team_factory(...)]` / `#[agent_factory(...)]`: `id = "...",
//! input = Type, blocking, ...`, in the grammar of [`crate::attr`].

use proc_macro2::{Span, TokenStream};
use syn::{Path, Type};

use crate::attr::{self, ListShape, StrArg, keep_first, kw};
use crate::errors::Errors;

attr::keys! {
    /// The keys both factory attributes take.
    enum Key {
        Id(kw::id) = "id",
        Input(kw::input) = "input",
        Name(kw::name) = "name",
        Description(kw::description) = "description",
        Scopes(kw::scopes) = "scopes",
        Blocking(kw::blocking) = "blocking",
        Multitask(kw::multitask) = "multitask",
        Crate(syn::token::Crate) = "crate",
    }
}

/// The arguments, as written.
#[derive(Default)]
pub struct FactoryArgs {
    pub id: Option<StrArg>,
    pub input: Option<Type>,
    pub name: Option<StrArg>,
    pub description: Option<StrArg>,
    pub scopes: Option<Vec<StrArg>>,
    /// The span of the `blocking` flag, when present.
    pub blocking: Option<Span>,
    /// What a run does when its session is busy: `allow`, `reject`, `enqueue`, `interrupt`.
    pub multitask: Option<StrArg>,
    pub krate: Option<Path>,
    /// Whether `id` was written at all, with a usable value or not, so that a bad value is not
    /// also reported as a missing `id`.
    pub id_written: bool,
}

impl FactoryArgs {
    /// The path of the `agentos` crate: `crate = path`, or `::agentos`.
    pub fn krate(&self) -> Path {
        self.krate
            .clone()
            .unwrap_or_else(|| syn::parse_quote!(::agentos))
    }

    /// Parses `args`, pushing every mistake into `errors`.
    pub fn parse(args: TokenStream, errors: &mut Errors) -> FactoryArgs {
        let mut parsed = FactoryArgs::default();
        let scopes = ListShape {
            element: "scope",
            example: "teams:run",
        };
        let written = attr::parse(args, errors, |key: Key, input, errors| {
            match key {
                Key::Id(_) => keep_first(&mut parsed.id, attr::str_value(input, key, errors)?),
                Key::Name(_) => keep_first(&mut parsed.name, attr::str_value(input, key, errors)?),
                Key::Description(_) => keep_first(
                    &mut parsed.description,
                    attr::str_value(input, key, errors)?,
                ),
                Key::Input(_) => {
                    if attr::eq(input, key, "MyInput", errors)? {
                        keep_first(&mut parsed.input, Some(input.parse()?));
                    }
                }
                Key::Scopes(_) => keep_first(
                    &mut parsed.scopes,
                    attr::str_list(input, key, &scopes, errors)?,
                ),
                Key::Blocking(_) => {
                    keep_first(&mut parsed.blocking, Some(attr::flag(input, key, errors)?))
                }
                Key::Multitask(_) => {
                    keep_first(&mut parsed.multitask, attr::str_value(input, key, errors)?)
                }
                Key::Crate(_) => {
                    keep_first(&mut parsed.krate, attr::path_value(input, key, errors)?)
                }
            }
            Ok(())
        });
        parsed.id_written = written.iter().any(|key| matches!(key, Key::Id(_)));
        parsed
    }
}
