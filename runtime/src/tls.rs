//! One rustls crypto provider for the whole process.
//!
//! reqwest (the model clients) and sqlx are built without a provider of their own so the binary
//! carries exactly one: ring, installed here as the process default before any client is built.

use std::sync::Once;

/// Installs ring as rustls's process-wide provider; later calls do nothing. Call it before
/// building an HTTP client (agentos's model clients call it themselves).
pub fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // An error means another provider is already the default, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
