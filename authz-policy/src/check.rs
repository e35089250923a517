//! The request and answer of the `authz-check` contract, as JSON types, so the CLI, the
//! conformance tests and other tools read and write the same shapes.
//!
//! ```
//! use authz_policy::check::{CheckRequest, CheckOutput};
//! use authz_policy::{CompileOptions, CustomVerdict, PolicySet};
//! let set = PolicySet::from_yaml("", CompileOptions::default())?;
//! let input: CheckRequest = serde_json::from_str(r#"{"method":"GET","path":"/","namespace":"foo"}"#).unwrap();
//! let (workload, headers) = (input.workload(), input.header_pairs());
//! let decision = set.evaluate(&workload, &input.request(&headers).unwrap(), CustomVerdict::Allow);
//! let out = CheckOutput::from(&decision);
//! assert_eq!(serde_json::to_string(&out).unwrap(),
//!     r#"{"status":200,"decision":"allow","policy":null,"rule":null,"custom_called":false,"principal":null,"reason":"no ALLOW policy applies to the workload"}"#);
//! # Ok::<_, authz_policy::Error>(())
//! ```

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::eval::Decision;
use crate::request::{Headers, Peer, Request, Workload};

/// A header value: one string, or several for a repeated header.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum HeaderValue {
    /// One value.
    One(String),
    /// A repeated header.
    Many(Vec<String>),
}

/// `source` of a check request.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckSource {
    /// The direct peer address.
    pub ip: Option<String>,
    /// The original client address (absent: `ip`).
    pub remote_ip: Option<String>,
    /// The mTLS peer identity.
    pub principal: Option<String>,
    /// Informational: namespaces are read from `principal`, as Istio does.
    pub namespace: Option<String>,
}

/// A check request (the `--request` JSON of `authz-check`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckRequest {
    /// The workload's namespace (default `default`).
    pub namespace: Option<String>,
    /// The workload's labels.
    #[serde(default)]
    pub workload_labels: BTreeMap<String, String>,
    /// `:method`.
    pub method: String,
    /// `:path`, query included or not.
    pub path: String,
    /// `:authority`.
    pub host: Option<String>,
    /// The destination port.
    pub port: Option<u16>,
    /// Headers by name.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderValue>,
    /// The raw query string.
    pub query: Option<String>,
    /// The peer.
    #[serde(default)]
    pub source: CheckSource,
    /// The destination address.
    pub destination_ip: Option<String>,
    /// The TLS SNI.
    pub sni: Option<String>,
    /// The time, seconds since the epoch (absent: the wall clock).
    pub now: Option<i64>,
}

fn ip(field: &str, value: &Option<String>) -> Result<Option<IpAddr>, String> {
    value
        .as_deref()
        .map(|v| {
            v.parse()
                .map_err(|_| format!("{field}: {v:?} is not an IP address"))
        })
        .transpose()
}

impl CheckRequest {
    /// The workload.
    pub fn workload(&self) -> Workload {
        Workload {
            namespace: self.namespace.clone().unwrap_or_else(|| "default".into()),
            labels: self.workload_labels.clone(),
        }
    }

    /// The headers as name/value pairs (a repeated header gives several).
    pub fn header_pairs(&self) -> Vec<(&str, &str)> {
        let mut out = Vec::new();
        for (name, value) in &self.headers {
            match value {
                HeaderValue::One(v) => out.push((name.as_str(), v.as_str())),
                HeaderValue::Many(vs) => out.extend(vs.iter().map(|v| (name.as_str(), v.as_str()))),
            }
        }
        out
    }

    /// The request, borrowing `headers` from [`CheckRequest::header_pairs`]. Fails on an
    /// address that does not parse.
    pub fn request<'a>(&'a self, headers: &'a [(&'a str, &'a str)]) -> Result<Request<'a>, String> {
        let mut request = Request::new(&self.method, &self.path);
        request.host = self.host.as_deref();
        request.port = self.port;
        request.headers = Headers::Pairs(headers);
        request.query_string = self.query.as_deref();
        request.destination_ip = ip("destination_ip", &self.destination_ip)?;
        request.peer = Peer {
            ip: ip("source.ip", &self.source.ip)?,
            remote_ip: ip("source.remote_ip", &self.source.remote_ip)?,
            principal: self.source.principal.as_deref(),
        };
        request.sni = self.sni.as_deref();
        request.now = self.now;
        Ok(request)
    }
}

/// The answer of `authz-check`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckOutput {
    /// 200, 401 or 403.
    pub status: u16,
    /// `allow`, `deny` or `unauthenticated`.
    pub decision: String,
    /// The deciding policy, `namespace/name`.
    pub policy: Option<String>,
    /// The deciding rule's index.
    pub rule: Option<usize>,
    /// Whether a CUSTOM provider is consulted.
    pub custom_called: bool,
    /// `iss/sub` of the verified token.
    pub principal: Option<String>,
    /// Why.
    pub reason: String,
}

impl From<&Decision> for CheckOutput {
    fn from(d: &Decision) -> Self {
        CheckOutput {
            status: d.status,
            decision: d.outcome.as_str().to_owned(),
            policy: d.policy.as_deref().map(str::to_owned),
            rule: d.rule,
            custom_called: d.custom_called(),
            principal: d.principal(),
            reason: d.reason().into_owned(),
        }
    }
}

/// Checks `actual` against an expectation in the conformance-suite format
/// (`tests/data/istio/*/expected.json`): every key except `args`, `comment`, `exit`,
/// `error_contains` and `reason_contains` must equal the output's; `reason_contains` must
/// be a substring of `reason`. `Err` says what differs.
pub fn compare_expected(expected: &serde_json::Value, actual: &CheckOutput) -> Result<(), String> {
    let actual = serde_json::to_value(actual).map_err(|e| e.to_string())?;
    let Some(expected) = expected.as_object() else {
        return Err("the expectation is not a JSON object".into());
    };
    for (key, want) in expected {
        match key.as_str() {
            "args" | "comment" | "exit" | "error_contains" => {}
            "reason_contains" => {
                let reason = actual["reason"].as_str().unwrap_or("");
                if !reason.contains(want.as_str().unwrap_or("")) {
                    return Err(format!("reason {reason:?} lacks {want}"));
                }
            }
            _ if actual.get(key) != Some(want) => {
                let got = actual.get(key).cloned().unwrap_or(serde_json::Value::Null);
                return Err(format!("{key}: expected {want}, got {got}"));
            }
            _ => {}
        }
    }
    Ok(())
}
