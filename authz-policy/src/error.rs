//! The crate's error type.

/// Why policies could not be loaded or compiled. Every variant names the object
/// (`Kind namespace/name`) and, where there is one, the field path
/// (`spec.rules[0].to[0].operation.ports[1]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not YAML, or a document is not a mapping.
    #[error("document {document}: {reason}")]
    Yaml {
        /// The document's index in the stream, from 0.
        document: usize,
        /// What is wrong.
        reason: String,
    },
    /// A field is not part of the schema, or has the wrong type or an unknown enum value.
    #[error("{object}: {field}: {reason}")]
    Schema {
        /// `Kind namespace/name`.
        object: String,
        /// The field path.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A value that Istio's validation rejects.
    #[error("{object}: {field}: {reason}")]
    Invalid {
        /// `Kind namespace/name`.
        object: String,
        /// The field path.
        field: String,
        /// What is wrong.
        reason: String,
    },
}
