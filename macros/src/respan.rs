//! Giving generated tokens the user's span.

use proc_macro2::{Group, Span, TokenStream, TokenTree};

/// `tokens` with every token at `span`. `quote_spanned!` keeps the spans of interpolated
/// tokens (such as the `crate` path); a path whose tokens all carry the user's span makes
/// rustc report a failed trait bound at the user's token instead of at the attribute.
///
/// Only the location changes: names keep the call site's hygiene, so generated locals still
/// resolve.
pub fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    let span = Span::call_site().located_at(span);
    tokens
        .into_iter()
        .map(|token| match token {
            TokenTree::Group(group) => {
                let mut respanned = Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                TokenTree::Group(respanned)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}
