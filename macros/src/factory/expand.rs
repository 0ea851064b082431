//! Code generation. Every type check is generated code that carries the user's span, so rustc
//! explains a mistake at the token that caused it.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, Ident, ItemFn, Visibility};

use super::Kind;
use super::args::FactoryArgs;
use super::validate::Factory;
use crate::respan::respan;

/// The name the user's function gets as an associated function of the factory type.
fn inner_ident() -> Ident {
    format_ident!("__agentos_factory_fn")
}

fn component_ident(kind: Kind) -> Ident {
    Ident::new(kind.component(), Span::call_site())
}

fn is_doc(attr: &Attribute) -> bool {
    attr.path().is_ident("doc")
}

/// The unit struct that replaces the function's name, and the function itself as an
/// associated function of it.
fn factory_type(func: &ItemFn) -> TokenStream {
    let ident = &func.sig.ident;
    let vis = &func.vis;
    let docs = func.attrs.iter().filter(|attr| is_doc(attr));
    let mut inner = func.clone();
    inner.sig.ident = inner_ident();
    inner.vis = Visibility::Inherited;
    inner.attrs.retain(|attr| !is_doc(attr));
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

/// The complete expansion of a valid factory.
pub fn factory(factory: &Factory) -> TokenStream {
    let krate = &factory.krate;
    let private = quote!(#krate::__private);
    let ident = &factory.func.sig.ident;
    let component = component_ident(factory.kind);
    let input_ty = match &factory.input {
        Some(ty) => quote!(#ty),
        None => quote!(()),
    };

    let id = &factory.id;
    let name = factory.name.iter();
    let description = factory.description.iter();
    let scopes = if factory.scopes.is_empty() {
        None
    } else {
        let scopes = factory.scopes.iter().map(|scope| &scope.value);
        Some(quote!(.with_scopes([#(#scopes),*])))
    };

    let multitask = factory
        .multitask
        .iter()
        .map(|variant| quote!(.with_multitask(#private::MultitaskStrategy::#variant)));

    let (input_schema, parse_input) = match &factory.input {
        Some(ty) => {
            // The trait check is reported at `input = T`. The two calls below compile even
            // when it fails (autoref dispatch picks a fallback), so the user sees one error.
            let check_fn = respan(quote!(#private::assert_factory_input), ty.span());
            let check = quote_spanned!(ty.span()=> #check_fn::<#ty>());
            (
                quote! {
                    #[allow(unused_imports)]
                    use #private::{CheckedInput as _, UncheckedInput as _};
                    ::core::option::Option::Some((&#private::InputOf::<#ty>::new()).schema())
                },
                quote! {
                    #check;
                    #[allow(unused_imports)]
                    use #private::{CheckedInput as _, UncheckedInput as _};
                    (&#private::InputOf::<#ty>::new()).parse(input)
                },
            )
        }
        None => (
            quote!(::core::option::Option::None),
            quote! {
                // A factory without input ignores whatever object it is sent.
                let _ = input;
                ::core::result::Result::Ok(())
            },
        ),
    };

    // Spanned at `input = T`, so that an input type less visible than the factory is
    // reported there.
    let input_assoc = match &factory.input {
        Some(ty) => quote_spanned!(ty.span()=> type Input = #ty;),
        None => quote!(
            type Input = ();
        ),
    };
    let build_body = build_body(factory, &private, &component, &input_ty);
    let factory_type = factory_type(&factory.func);
    let register = format_ident!("__agentos_register");

    quote! {
        #factory_type

        impl #private::Factory for #ident {
            #input_assoc
            type Output = #private::#component;

            fn info(&self) -> #private::FactoryInfo {
                #private::FactoryInfo::factory(#id)
                    #(.with_name(#name))*
                    #(.with_description(#description))*
                    #scopes
                    #(#multitask)*
            }

            fn input_schema(&self) -> ::core::option::Option<#private::Value> {
                #input_schema
            }

            fn parse_input(
                &self,
                input: #private::Map<::std::string::String, #private::Value>,
            ) -> ::core::result::Result<Self::Input, #private::FactoryError> {
                #parse_input
            }

            fn build(
                &self,
                ctx: #private::RequestContext<Self::Input>,
            ) -> impl ::core::future::Future<
                Output = ::core::result::Result<#private::#component, #private::FactoryError>,
            > + ::core::marker::Send {
                #build_body
            }
        }

        const _: () = {
            fn #register() -> #private::Registration<#private::#component> {
                #private::Registration::new(#ident)
            }
            #private::inventory::submit! {
                #private::Discovered::#component(#register)
            }
        };
    }
}

/// `async move { ... }` that calls the user's function and converts what it returns.
fn build_body(
    factory: &Factory,
    private: &TokenStream,
    component: &Ident,
    input_ty: &TokenStream,
) -> TokenStream {
    let inner = inner_ident();
    let ctx = Ident::new("ctx", Span::call_site());
    let context = Ident::new("__agentos_ctx", Span::call_site());
    let output = Ident::new("__agentos_output", Span::call_site());

    // The context parameter: a type other than `RequestContext<input>` fails here, at the
    // parameter's type, through `FactoryContext`'s diagnostic.
    let (bind_context, args) = match &factory.context {
        Some(ty) => (
            {
                let trait_path = respan(quote!(#private::FactoryContext), ty.span());
                quote_spanned! {ty.span()=>
                    let #context = <#ty as #trait_path<#input_ty>>::from_context(#ctx);
                }
            },
            quote!(#context),
        ),
        None => (quote!(let _ = #ctx;), quote!()),
    };

    // A wrong return type fails here, at the return type, through `IntoFactoryResult`'s
    // diagnostic.
    let ret = &factory.output;
    let convert = respan(
        quote!(#private::IntoFactoryResult::<#private::#component>::into_factory_result(#output)),
        ret.span(),
    );
    let call = if factory.func.sig.asyncness.is_some() {
        // A future that is not `Send` fails here, at the function's name.
        let send = respan(
            quote!(#private::assert_send(Self::#inner(#args))),
            factory.func.sig.ident.span(),
        );
        quote! {
            let #output = #send.await;
            #convert
        }
    } else if factory.blocking {
        quote! {
            #private::run_blocking(move || {
                let #output = Self::#inner(#args);
                #convert
            })
            .await
        }
    } else {
        quote! {
            let #output = Self::#inner(#args);
            #convert
        }
    };

    quote! {
        async move {
            #bind_context
            #call
        }
    }
}

/// What is emitted when the attribute has errors: the factory type with the user's function,
/// and a `Factory` impl that is never run (the crate does not compile), so that uses of the
/// factory elsewhere do not add errors of their own.
pub fn fallback(kind: Kind, args: &FactoryArgs, func: &ItemFn) -> TokenStream {
    let krate = args.krate();
    let private = quote!(#krate::__private);
    let ident = &func.sig.ident;
    let component = component_ident(kind);
    let input_ty = match &args.input {
        Some(ty) => quote!(#ty),
        None => quote!(()),
    };
    let factory_type = factory_type(func);
    quote! {
        #factory_type

        impl #private::Factory for #ident {
            type Input = #input_ty;
            type Output = #private::#component;

            fn info(&self) -> #private::FactoryInfo {
                #private::FactoryInfo::factory("")
            }

            fn input_schema(&self) -> ::core::option::Option<#private::Value> {
                ::core::option::Option::None
            }

            fn parse_input(
                &self,
                _input: #private::Map<::std::string::String, #private::Value>,
            ) -> ::core::result::Result<Self::Input, #private::FactoryError> {
                ::core::result::Result::Err(#private::FactoryError::internal("invalid factory"))
            }

            fn build(
                &self,
                _ctx: #private::RequestContext<Self::Input>,
            ) -> impl ::core::future::Future<
                Output = ::core::result::Result<#private::#component, #private::FactoryError>,
            > + ::core::marker::Send {
                ::core::future::pending()
            }
        }
    }
}
