//! Test support (feature `testing`): keys made at start, token minting, and an in-process
//! development OpenID Provider. Not for production use.

mod dev_provider;
mod keys;

pub use self::dev_provider::{DevClient, DevProvider, DevUser};
pub use self::keys::{SigningKey, TestKeys, jwks_of, mint, mint_with_header};
pub use crate::clock::FixedClock;
