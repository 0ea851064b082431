//! Code generation for `#[tool]`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, Ident, ItemFn, Path, Visibility};

use super::parse::{Pause, Tool, strip_param_docs};
use crate::respan::respan;

fn inner_ident() -> Ident {
    format_ident!("__agentos_tool_fn")
}

fn is_doc(attr: &Attribute) -> bool {
    attr.path().is_ident("doc")
}

/// The unit struct that replaces the function's name, and the function as its associated
/// function.
fn tool_type(func: &ItemFn) -> TokenStream {
    let ident = &func.sig.ident;
    let vis = &func.vis;
    let docs = func.attrs.iter().filter(|attr| is_doc(attr));
    let mut inner = func.clone();
    inner.sig.ident = inner_ident();
    inner.vis = Visibility::Inherited;
    inner.attrs.retain(|attr| !is_doc(attr));
    strip_param_docs(&mut inner);
    quote! {
        #(#docs)*
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug)]
        #vis struct #ident;

        impl #ident {
            #[doc(hidden)]
            #inner
        }
    }
}

/// The text of the doc comments, lines joined, trimmed.
fn doc_text(attrs: &[Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|attr| is_doc(attr))
        .filter_map(|attr| match &attr.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(lit),
                    ..
                }) => Some(lit.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| {
            line.strip_prefix(' ')
                .unwrap_or(&line)
                .trim_end()
                .to_owned()
        })
        .collect();
    lines.join("\n").trim().to_owned()
}

/// `path` as the string `#[serde(crate = "...")]` wants.
fn path_string(path: &TokenStream) -> String {
    path.to_string().replace(' ', "")
}

pub fn tool(tool: &Tool) -> TokenStream {
    let krate: &Path = &tool.krate;
    let private = quote!(#krate::__private);
    let ident = &tool.func.sig.ident;
    let name = &tool.name;
    let description = doc_text(&tool.func.attrs);
    let inner = inner_ident();
    let args_struct = Ident::new("__AgentosToolArgs", Span::call_site());
    let serde_crate = path_string(&quote!(#private::serde));
    let schemars_crate = path_string(&quote!(#private::schemars));

    let fields = tool.params.iter().map(|param| {
        let ident = &param.ident;
        let ty = &param.ty;
        let docs = &param.docs;
        // serde names a field `r#for` "for" already; saying so keeps the schema and the
        // deserializer agreeing whatever the derives do with raw identifiers.
        let rename = ident.to_string().starts_with("r#").then(|| {
            let name = &param.name;
            quote!(#[serde(rename = #name)])
        });
        quote!(#(#docs)* #rename #ident: #ty)
    });
    let arguments = Ident::new("__agentos_arguments", Span::call_site());
    let values = tool.params.iter().map(|param| {
        let ident = &param.ident;
        quote!(#arguments.#ident)
    });
    let call = quote!(Self::#inner(#(#values),*));
    let call = if tool.func.sig.asyncness.is_some() {
        let send = respan(quote!(#private::assert_send(#call)), ident.span());
        quote!(#send.await)
    } else {
        call
    };
    let output = Ident::new("__agentos_output", Span::call_site());
    let span = tool
        .output
        .as_ref()
        .map_or_else(|| tool.func.sig.paren_token.span.close(), |ty| ty.span());
    let convert = quote_spanned! {span=>
        {
            #[allow(unused_imports)]
            use #private::{ToolResultOfResult as _, ToolResultOfValue as _};
            (&#private::ToolOutput::new(#output)).to_tool_result(#name)
        }
    };
    let tool_type = tool_type(&tool.func);
    let pause_for = tool.pause.as_ref().map(|pause| {
        let pause = match pause {
            Pause::Confirmation => quote!(#private::PauseFor::Confirmation),
            Pause::UserInput(fields) => quote! {
                #private::PauseFor::UserInput {
                    fields: ::std::vec![#(::std::string::String::from(#fields)),*],
                }
            },
            Pause::ExternalExecution => quote!(#private::PauseFor::ExternalExecution),
        };
        quote! {
            fn pause_for(&self) -> ::core::option::Option<#private::PauseFor> {
                ::core::option::Option::Some(#pause)
            }
        }
    });

    quote! {
        #tool_type

        const _: () = {
            #[derive(#private::serde::Deserialize, #private::schemars::JsonSchema)]
            #[serde(crate = #serde_crate)]
            #[schemars(crate = #schemars_crate)]
            #[allow(non_camel_case_types)]
            struct #args_struct {
                #(#fields,)*
            }

            impl #private::ToolFunction for #ident {
                fn definition(&self) -> #private::ToolDefinition {
                    #private::ToolDefinition {
                        name: ::std::string::String::from(#name),
                        description: ::std::string::String::from(#description),
                        parameters: #private::tool_parameters::<#args_struct>(),
                    }
                }

                #pause_for

                fn call(
                    &self,
                    arguments: #private::Value,
                ) -> #private::BoxFuture<
                    'static,
                    ::core::result::Result<::std::string::String, #private::ToolError>,
                > {
                    ::std::boxed::Box::pin(async move {
                        let #arguments: #args_struct =
                            #private::parse_tool_arguments(#name, arguments)?;
                        let #output = #call;
                        #convert
                    })
                }
            }
        };
    }
}

/// On error: the tool type with the user's function, and a `ToolFunction` impl never run.
pub fn fallback(func: &ItemFn, krate: &Path) -> TokenStream {
    let private = quote!(#krate::__private);
    let ident = &func.sig.ident;
    let tool_type = tool_type(func);
    quote! {
        #tool_type

        impl #private::ToolFunction for #ident {
            fn definition(&self) -> #private::ToolDefinition {
                #private::ToolDefinition {
                    name: ::std::string::String::new(),
                    description: ::std::string::String::new(),
                    parameters: #private::Value::Null,
                }
            }

            fn call(
                &self,
                _arguments: #private::Value,
            ) -> #private::BoxFuture<
                'static,
                ::core::result::Result<::std::string::String, #private::ToolError>,
            > {
                ::std::boxed::Box::pin(::core::future::pending())
            }
        }
    }
}
