//! The crate's error type.

/// Configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting has a value that cannot work.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// Which setting (named as the oauth2-proxy flag where there is one).
        what: &'static str,
        /// Why.
        reason: String,
    },
}
