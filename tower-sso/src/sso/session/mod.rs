//! Login sessions: what is kept, how it is sealed, and where.

pub mod codec;
pub mod cookie;
