//! Objects compiled once into a [`PolicySet`].

pub(crate) mod jwt_rule;
pub(crate) mod rule;
pub(crate) mod selector;

use std::collections::BTreeSet;
use std::sync::Arc;

use oidc_core::http::SharedHttpClient;
use oidc_core::jwks::JwksCache;

use self::jwt_rule::CompiledJwtRule;
use self::rule::CompiledRule;
use self::selector::Scope;
use crate::error::Error;
use crate::load::{Objects, parse_yaml};
use crate::model::Action;
use crate::path::PathNormalization;
use crate::request::Workload;
use crate::validate;

/// How policies are compiled.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CompileOptions {
    /// The mesh root namespace: its policies apply to every namespace (default
    /// `istio-system`).
    pub root_namespace: String,
    /// The client that fetches `jwksUri` key sets; without one, tokens of such rules fail.
    pub http: Option<SharedHttpClient>,
    /// MeshConfig `pathNormalization` (default `BASE`).
    pub path_normalization: PathNormalization,
}

impl Default for CompileOptions {
    fn default() -> Self {
        Self {
            root_namespace: "istio-system".into(),
            http: None,
            path_normalization: PathNormalization::Base,
        }
    }
}

impl CompileOptions {
    /// Sets the root namespace.
    #[must_use]
    pub fn root_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.root_namespace = namespace.into();
        self
    }

    /// Sets the HTTP client for `jwksUri`.
    #[must_use]
    pub fn http(mut self, http: SharedHttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// Sets the path normalization.
    #[must_use]
    pub fn path_normalization(mut self, mode: PathNormalization) -> Self {
        self.path_normalization = mode;
        self
    }
}

#[derive(Debug)]
pub(crate) struct CompiledPolicy {
    pub(crate) id: Arc<str>,
    pub(crate) action: Action,
    pub(crate) provider: Option<Arc<str>>,
    pub(crate) scope: Scope,
    pub(crate) rules: Vec<CompiledRule>,
    pub(crate) dry_run: bool,
}

#[derive(Debug)]
pub(crate) struct CompiledAuthn {
    pub(crate) id: Arc<str>,
    pub(crate) scope: Scope,
    pub(crate) rules: Vec<CompiledJwtRule>,
}

/// FNV-1a: a fast hasher for the small keys of the scope index (namespaces, labels). The
/// keys come from the policies, not from requests, so flooding is not a concern.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FnvMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

/// Where to find the policies that may apply to a workload, by namespace and label, so
/// that evaluation does not visit policies for other workloads.
#[derive(Debug, Default)]
pub(crate) struct ScopeIndex {
    namespaces: FnvMap<String, NamespaceIndex>,
    /// The last workload asked about and its policies: a gateway or sidecar asks about
    /// one workload, so this is nearly always a hit.
    last: arc_swap::ArcSwapOption<(Workload, Arc<[u32]>)>,
}

#[derive(Debug, Default)]
struct NamespaceIndex {
    /// No selector, no targets: every workload of the namespace (or mesh, for the root).
    wide: Vec<u32>,
    /// Attached by target references: checked one by one.
    targeted: Vec<u32>,
    /// With a selector, filed under its first label: `key -> value -> policies`.
    by_label: FnvMap<String, FnvMap<String, Vec<u32>>>,
}

impl ScopeIndex {
    fn build(policies: &[CompiledPolicy]) -> ScopeIndex {
        let mut index = ScopeIndex::default();
        for (i, p) in policies.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            let entry = index
                .namespaces
                .entry(p.scope.namespace.clone())
                .or_default();
            if p.scope.has_targets() {
                entry.targeted.push(i);
            } else if let Some((k, v)) = p.scope.first_label() {
                entry
                    .by_label
                    .entry(k.to_owned())
                    .or_default()
                    .entry(v.to_owned())
                    .or_default()
                    .push(i);
            } else {
                entry.wide.push(i);
            }
        }
        index
    }

    /// The indices (in evaluation order) of the policies that apply to `workload`.
    pub(crate) fn applicable(&self, set: &PolicySet, workload: &Workload) -> Arc<[u32]> {
        if let Some(last) = &*self.last.load()
            && last.0 == *workload
        {
            return last.1.clone();
        }
        let found: Arc<[u32]> = self.lookup(set, workload).into();
        self.last
            .store(Some(Arc::new((workload.clone(), found.clone()))));
        found
    }

    fn lookup(&self, set: &PolicySet, workload: &Workload) -> Vec<u32> {
        let mut out = Vec::new();
        let mut namespaces = [Some(workload.namespace.as_str()), None];
        if set.root_namespace != workload.namespace {
            namespaces[1] = Some(set.root_namespace.as_str());
        }
        for ns in namespaces.into_iter().flatten() {
            let Some(entry) = self.namespaces.get(ns) else {
                continue;
            };
            out.extend_from_slice(&entry.wide);
            for (k, v) in &workload.labels {
                if let Some(found) = entry.by_label.get(k).and_then(|m| m.get(v)) {
                    out.extend(found.iter().filter(|i| {
                        set.policies[**i as usize]
                            .scope
                            .applies(workload, &set.root_namespace)
                    }));
                }
            }
            out.extend(entry.targeted.iter().filter(|i| {
                set.policies[**i as usize]
                    .scope
                    .applies(workload, &set.root_namespace)
            }));
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Policies compiled for evaluation. Build it once (`compile`, `from_yaml`), evaluate
/// many requests; evaluation is synchronous and does no I/O.
#[derive(Debug)]
pub struct PolicySet {
    pub(crate) root_namespace: String,
    pub(crate) normalization: PathNormalization,
    /// Sorted by action (CUSTOM, DENY, ALLOW, AUDIT), then `namespace/name`.
    pub(crate) policies: Vec<CompiledPolicy>,
    pub(crate) index: ScopeIndex,
    pub(crate) authns: Vec<CompiledAuthn>,
    pub(crate) jwks_caches: Vec<JwksCache>,
    pub(crate) objects: Objects,
}

fn namespace_of(meta: &crate::model::ObjectMeta) -> String {
    meta.namespace.clone().unwrap_or_else(|| "default".into())
}

impl PolicySet {
    /// Parses YAML (see [`crate::load::parse_yaml`]) and compiles it.
    pub fn from_yaml(text: &str, options: CompileOptions) -> Result<PolicySet, Error> {
        PolicySet::compile(parse_yaml(text)?, options)
    }

    /// Validates every object as Istio does and compiles them. The first invalid object
    /// is the error.
    pub fn compile(objects: Objects, options: CompileOptions) -> Result<PolicySet, Error> {
        let mut seen = BTreeSet::new();
        let mut policies = Vec::with_capacity(objects.authorization_policies.len());
        for p in &objects.authorization_policies {
            validate::authorization_policy(p)?;
            let ns = namespace_of(&p.metadata);
            let id = format!("{ns}/{}", p.metadata.name.as_deref().unwrap_or_default());
            if !seen.insert(("AuthorizationPolicy", id.clone())) {
                return Err(duplicate("AuthorizationPolicy", &id));
            }
            let action = p.spec.action.unwrap_or(Action::ALLOW);
            policies.push(CompiledPolicy {
                id: id.into(),
                action,
                provider: p
                    .spec
                    .provider
                    .as_ref()
                    .and_then(|pr| pr.name.as_deref())
                    .map(Arc::from),
                scope: Scope::new(
                    &ns,
                    &p.spec.selector,
                    &p.spec.target_ref,
                    &p.spec.target_refs,
                ),
                rules: p
                    .spec
                    .rules
                    .iter()
                    .flatten()
                    .map(|r| rule::compile_rule(r, &ns))
                    .collect(),
                dry_run: matches!(validate::dry_run(&p.metadata), Some(Ok(true))),
            });
        }
        policies.sort_by(|a, b| (a.action, &a.id).cmp(&(b.action, &b.id)));

        let mut jwks_caches = Vec::new();
        let mut authns = Vec::with_capacity(objects.request_authentications.len());
        for ra in &objects.request_authentications {
            validate::request_authentication(ra)?;
            let ns = namespace_of(&ra.metadata);
            let id = format!("{ns}/{}", ra.metadata.name.as_deref().unwrap_or_default());
            if !seen.insert(("RequestAuthentication", id.clone())) {
                return Err(duplicate("RequestAuthentication", &id));
            }
            authns.push(CompiledAuthn {
                id: id.into(),
                scope: Scope::new(
                    &ns,
                    &ra.spec.selector,
                    &ra.spec.target_ref,
                    &ra.spec.target_refs,
                ),
                rules: ra
                    .spec
                    .jwt_rules
                    .iter()
                    .flatten()
                    .map(|r| jwt_rule::compile(r, options.http.as_ref(), &mut jwks_caches))
                    .collect(),
            });
        }
        authns.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(PolicySet {
            root_namespace: options.root_namespace,
            normalization: options.path_normalization,
            index: ScopeIndex::build(&policies),
            policies,
            authns,
            jwks_caches,
            objects,
        })
    }

    /// The key caches of `jwksUri` rules with the fetch timeout their rules set (5 s by
    /// default). Evaluation never fetches: the caller fills the caches from an async
    /// context (`JwksCache::current`), and tokens of an issuer whose keys are missing fail
    /// with 401.
    pub fn jwks_sources(&self) -> Vec<(&JwksCache, std::time::Duration)> {
        self.jwks_caches
            .iter()
            .map(|cache| {
                let timeout = self
                    .authns
                    .iter()
                    .flat_map(|a| &a.rules)
                    .filter(
                        |r| matches!(&r.keys, jwt_rule::Keys::Remote(c) if c.url() == cache.url()),
                    )
                    .find_map(|r| r.timeout)
                    .unwrap_or(std::time::Duration::from_secs(5));
                (cache, timeout)
            })
            .collect()
    }

    /// True when the set has no AuthorizationPolicy: every request is allowed, so a
    /// server may skip evaluating.
    pub fn has_no_authorization_policies(&self) -> bool {
        self.policies.is_empty()
    }

    /// True when the set has no RequestAuthentication: tokens are not looked at, so a
    /// server may skip authenticating.
    pub fn has_no_request_authentications(&self) -> bool {
        self.authns.is_empty()
    }

    /// The headers RequestAuthentication rules write for the upstream
    /// (`outputPayloadToHeader`, `outputClaimToHeaders`), lower-case, sorted, without
    /// repeats: a server must never take them from a client.
    pub fn output_headers(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .authns
            .iter()
            .flat_map(|a| &a.rules)
            .flat_map(|r| {
                r.payload_header
                    .iter()
                    .chain(r.claim_headers.iter().map(|(h, _)| h))
            })
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The provider names of the CUSTOM policies, sorted and without repeats (what a
    /// server maps to authorizers, as the mesh config's `extensionProviders`).
    ///
    /// ```
    /// use authz_policy::{CompileOptions, PolicySet};
    /// let yaml = "apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: oidc, namespace: istio-system}
    /// spec: {action: CUSTOM, provider: {name: httpextauth-oidc}, rules: [{}]}
    /// ";
    /// let set = PolicySet::from_yaml(yaml, CompileOptions::default()).unwrap();
    /// assert_eq!(set.custom_providers(), ["httpextauth-oidc"]);
    /// ```
    pub fn custom_providers(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .policies
            .iter()
            .filter_map(|p| p.provider.as_deref())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The documents that were skipped (other kinds), one line each.
    pub fn skipped(&self) -> &[String] {
        &self.objects.skipped
    }

    /// The objects the set was compiled from.
    pub fn objects(&self) -> &Objects {
        &self.objects
    }

    /// The mesh root namespace.
    pub fn root_namespace(&self) -> &str {
        &self.root_namespace
    }
}

fn duplicate(kind: &str, id: &str) -> Error {
    Error::Invalid {
        object: format!("{kind} {id}"),
        field: "metadata.name".into(),
        reason: "defined twice".into(),
    }
}
