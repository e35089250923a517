//! Runnable programs built from the edge-sso crates: the gateway and the `authz-check` CLI.
//! They are being built (see the project's issue tracker).
