//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// A file under `tests/data/`.
pub(crate) fn data_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The text of a file under `tests/data/`.
pub(crate) fn data(name: &str) -> String {
    std::fs::read_to_string(data_path(name)).unwrap_or_else(|e| panic!("tests/data/{name}: {e}"))
}
