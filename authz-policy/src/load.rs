//! Multi-document YAML (or JSON) to typed Istio objects.

use serde::Deserialize;
use serde_json::Value;

use crate::error::Error;
use crate::model::{
    AuthorizationPolicy, AuthorizationPolicySpec, ObjectMeta, RequestAuthentication,
    RequestAuthenticationSpec,
};

/// The API versions understood (their schemas are identical).
pub const API_VERSIONS: [&str; 2] = ["security.istio.io/v1", "security.istio.io/v1beta1"];

/// The objects found in a YAML stream.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Objects {
    /// `AuthorizationPolicy` objects, in document order.
    pub authorization_policies: Vec<AuthorizationPolicy>,
    /// `RequestAuthentication` objects, in document order.
    pub request_authentications: Vec<RequestAuthentication>,
    /// Documents skipped (another `kind`), one line each.
    pub skipped: Vec<String>,
}

impl Objects {
    /// Adds the objects of `other`.
    pub fn extend(&mut self, other: Objects) {
        self.authorization_policies
            .extend(other.authorization_policies);
        self.request_authentications
            .extend(other.request_authentications);
        self.skipped.extend(other.skipped);
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Document<S> {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    metadata: ObjectMeta,
    spec: Option<S>,
    #[allow(dead_code)]
    status: Option<serde::de::IgnoredAny>,
}

/// Parses a stream of YAML documents (`---`-separated; JSON is YAML too). Documents of other
/// kinds are listed in [`Objects::skipped`]; `kind: List` is read item by item. The objects
/// are typed, not yet validated: see [`crate::PolicySet::compile`].
///
/// ```
/// let objects = authz_policy::load::parse_yaml(r#"
/// apiVersion: security.istio.io/v1
/// kind: AuthorizationPolicy
/// metadata: {name: deny-all, namespace: foo}
/// spec: {action: DENY, rules: [{}]}
/// ---
/// apiVersion: v1
/// kind: Service
/// metadata: {name: httpbin}
/// "#)?;
/// assert_eq!(objects.authorization_policies.len(), 1);
/// assert_eq!(objects.skipped.len(), 1);
/// # Ok::<_, authz_policy::Error>(())
/// ```
pub fn parse_yaml(text: &str) -> Result<Objects, Error> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| Error::Yaml {
        document: 0,
        reason: first_line(&e.to_string()),
    })?;
    let mut objects = Objects::default();
    for (index, document) in documents.into_iter().enumerate() {
        read_document(index, document, &mut objects)?;
    }
    Ok(objects)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).trim().to_owned()
}

fn read_document(index: usize, document: Value, objects: &mut Objects) -> Result<(), Error> {
    let Value::Object(map) = &document else {
        if document.is_null() {
            return Ok(()); // an empty document between separators
        }
        return Err(Error::Yaml {
            document: index,
            reason: "a document must be a mapping".into(),
        });
    };
    let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
    let (Some(api_version), Some(kind)) = (text("apiVersion"), text("kind")) else {
        return Err(Error::Yaml {
            document: index,
            reason: "apiVersion and kind must be strings".into(),
        });
    };
    if kind == "List" {
        if let Some(Value::Array(items)) = map.get("items") {
            for item in items.clone() {
                read_document(index, item, objects)?;
            }
        }
        return Ok(());
    }
    let metadata = map.get("metadata");
    let meta_text = |key: &str| {
        metadata
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let object = format!(
        "{kind} {}/{}",
        meta_text("namespace").unwrap_or_else(|| "default".into()),
        meta_text("name").unwrap_or_else(|| "?".into())
    );
    let ours = matches!(
        kind.as_str(),
        "AuthorizationPolicy" | "RequestAuthentication"
    );
    if !ours {
        objects
            .skipped
            .push(format!("document {index}: skipped {api_version} {kind}"));
        return Ok(());
    }
    if !API_VERSIONS.contains(&api_version.as_str()) {
        return Err(Error::Schema {
            object,
            field: "apiVersion".into(),
            reason: format!(
                "{api_version:?} is not supported (use security.istio.io/v1 or v1beta1)"
            ),
        });
    }
    let schema_error = |e: serde_path_to_error::Error<serde_json::Error>| Error::Schema {
        object: object.clone(),
        field: e.path().to_string(),
        reason: e.inner().to_string(),
    };
    if kind == "AuthorizationPolicy" {
        let doc: Document<AuthorizationPolicySpec> =
            serde_path_to_error::deserialize(document).map_err(schema_error)?;
        objects.authorization_policies.push(AuthorizationPolicy {
            metadata: doc.metadata,
            spec: doc.spec.unwrap_or_default(),
        });
    } else {
        let doc: Document<RequestAuthenticationSpec> =
            serde_path_to_error::deserialize(document).map_err(schema_error)?;
        objects.request_authentications.push(RequestAuthentication {
            metadata: doc.metadata,
            spec: doc.spec.unwrap_or_default(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_wrong_types_and_bad_enums_name_the_field() {
        let cases = [
            (
                "spec: {rules: [{to: [{operation: {port: ['80']}}]}]}",
                "spec.rules[0].to[0].operation.port",
                "unknown field `port`",
            ),
            (
                "spec: {rules: [{to: [{operation: {ports: [80]}}]}]}",
                "spec.rules[0].to[0].operation.ports[0]",
                "expected a string",
            ),
            (
                "spec: {action: PERMIT}",
                "spec.action",
                "unknown variant `PERMIT`",
            ),
            ("spec: {rules: [null]}", "spec.rules[0]", ""),
            (
                "spec: {selector: {labels: {app: x}}}",
                "spec.selector.labels",
                "unknown field `labels`",
            ),
            ("spek: {}", "spek", "unknown field `spek`"),
        ];
        for (body, field, reason) in cases {
            let yaml = format!(
                "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: p, namespace: ns}}\n{body}\n"
            );
            match parse_yaml(&yaml) {
                Err(Error::Schema {
                    object,
                    field: f,
                    reason: r,
                }) => {
                    assert_eq!(object, "AuthorizationPolicy ns/p");
                    assert_eq!(f, field, "{body}");
                    assert!(r.contains(reason), "{body}: {r}");
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn bad_yaml_and_bad_documents_are_errors() {
        assert!(matches!(parse_yaml("a: [1, 2"), Err(Error::Yaml { .. })));
        assert!(matches!(parse_yaml("- 1\n- 2\n"), Err(Error::Yaml { .. })));
        assert!(matches!(
            parse_yaml("kind: AuthorizationPolicy\n"),
            Err(Error::Yaml { .. })
        ));
        let other_version = "apiVersion: security.istio.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: a}\n";
        assert!(
            matches!(parse_yaml(other_version), Err(Error::Schema { field, .. }) if field == "apiVersion")
        );
    }

    #[test]
    fn lists_empty_documents_and_status_are_accepted() {
        let yaml = "---\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: security.istio.io/v1beta1\n  kind: RequestAuthentication\n  metadata: {name: r, namespace: foo, uid: x, resourceVersion: '1'}\n  spec: {jwtRules: [{issuer: a}]}\n  status: {validationMessages: []}\n";
        let objects = parse_yaml(yaml).unwrap();
        assert_eq!(objects.request_authentications.len(), 1);
        assert_eq!(
            objects.request_authentications[0]
                .metadata
                .namespace
                .as_deref(),
            Some("foo")
        );
    }
}
