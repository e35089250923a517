//! Newtypes for secrets: their `Debug` is redacted, they have no `Display`, and the value
//! is reachable only through `.secret()`. Their memory is zeroized on drop.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(Zeroizing<String>);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(Zeroizing::new(value.into()))
            }

            /// The secret value. Keep it out of logs.
            pub fn secret(&self) -> &str {
                &self.0
            }

            /// Compares with `other` in constant time (for equal lengths).
            pub fn ct_eq(&self, other: &str) -> bool {
                ct_eq(self.secret(), other)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::new(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self::new(value)
            }
        }
    };
}

secret_type!(
    /// An OAuth 2.0 client secret.
    ClientSecret
);
secret_type!(
    /// A bearer token (access, refresh or ID token) or authorization code.
    TokenSecret
);
secret_type!(
    /// The `state` value of an authorization request.
    State
);
secret_type!(
    /// The `nonce` value of an authentication request.
    Nonce
);
secret_type!(
    /// A PKCE code verifier (RFC 7636).
    PkceVerifier
);

/// Compares two strings in constant time with respect to their contents.
///
/// The lengths are not secret: strings of different lengths compare unequal at once.
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_every_secret_type() {
        let shown = format!(
            "{:?} {:?} {:?} {:?} {:?}",
            ClientSecret::new("s3cr3t-a"),
            TokenSecret::new("s3cr3t-b"),
            State::new("s3cr3t-c"),
            Nonce::new("s3cr3t-d"),
            PkceVerifier::new("s3cr3t-e")
        );
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("ClientSecret([redacted])"));
        assert!(shown.contains("PkceVerifier([redacted])"));
    }

    #[test]
    fn constant_time_compare() {
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd"));
        assert!(!ct_eq("abc", "abcd"));
        assert!(State::new("xyz").ct_eq("xyz"));
        assert!(!State::new("xyz").ct_eq("xy"));
    }
}
