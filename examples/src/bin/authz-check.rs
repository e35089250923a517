//! `authz-check`: decide one request against Istio policies, as Istio would.
//!
//! ```text
//! authz-check --policies FILE [--policies FILE]... --request FILE|- [--root-namespace NS]
//!             [--custom-deny] [--lint]
//! ```
//!
//! Prints one JSON object on stdout (`status`, `decision`, `policy`, `rule`,
//! `custom_called`, `principal`, `reason`) and exits 0 for any decision; unusable input is
//! a message on stderr and exit 2. With `--lint`, prints the policies' lint warnings, one
//! JSON object per line. The contract is in the project's ARCHITECTURE.md.

use std::io::Read as _;
use std::process::ExitCode;

use authz_policy::check::{CheckOutput, CheckRequest};
use authz_policy::load::{Objects, parse_yaml};
use authz_policy::{CompileOptions, CustomVerdict, PolicySet};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "authz-check",
    version,
    about = "Decide a request against Istio security policies"
)]
struct Args {
    /// Istio YAML with AuthorizationPolicy / RequestAuthentication objects (repeatable).
    #[arg(long = "policies", value_name = "FILE", required = true)]
    policies: Vec<String>,
    /// The request as JSON; `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    request: Option<String>,
    /// The mesh root namespace.
    #[arg(long, value_name = "NS", default_value = "istio-system")]
    root_namespace: String,
    /// Take a CUSTOM provider's answer as "deny" (default "allow").
    #[arg(long)]
    custom_deny: bool,
    /// Print lint warnings instead of a decision.
    #[arg(long)]
    lint: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(lines) => {
            let mut out = String::new();
            for line in lines {
                out.push_str(&line);
                out.push('\n');
            }
            use std::io::Write as _;
            if std::io::stdout().write_all(out.as_bytes()).is_err() {
                return ExitCode::from(2);
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("authz-check: {message}");
            ExitCode::from(2)
        }
    }
}

fn read(path: &str) -> Result<String, String> {
    if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("stdin: {e}"))?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
    }
}

fn run(args: &Args) -> Result<Vec<String>, String> {
    let mut objects = Objects::default();
    for file in &args.policies {
        let parsed = parse_yaml(&read(file)?).map_err(|e| format!("{file}: {e}"))?;
        for skipped in &parsed.skipped {
            eprintln!("authz-check: warning: {file}: {skipped}");
        }
        objects.extend(parsed);
    }
    let http = oidc_core::http::default_client().map_err(|e| e.to_string())?;
    let options = CompileOptions::default()
        .root_namespace(args.root_namespace.clone())
        .http(http);
    let set = PolicySet::compile(objects, options).map_err(|e| e.to_string())?;
    let input: Option<CheckRequest> = match &args.request {
        Some(path) => {
            Some(serde_json::from_str(&read(path)?).map_err(|e| format!("request: {e}"))?)
        }
        None => None,
    };

    if args.lint {
        let workloads: Vec<_> = input.iter().map(CheckRequest::workload).collect();
        return Ok(set
            .lint(&workloads)
            .iter()
            .map(|w| serde_json::to_string(w).unwrap_or_default())
            .collect());
    }
    let input = input.ok_or("--request is required (or --lint)")?;
    fetch_keys(&set);
    let headers = input.header_pairs();
    let request = input.request(&headers)?;
    let verdict = if args.custom_deny {
        CustomVerdict::Deny
    } else {
        CustomVerdict::Allow
    };
    let decision = set.evaluate(&input.workload(), &request, verdict);
    let output = serde_json::to_string(&CheckOutput::from(&decision)).map_err(|e| e.to_string())?;
    Ok(vec![output])
}

/// Fills the `jwksUri` key caches; a failure is reported and makes that issuer's tokens
/// fail with 401.
fn fetch_keys(set: &PolicySet) {
    let sources = set.jwks_sources();
    if sources.is_empty() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        eprintln!("authz-check: warning: cannot start a runtime to fetch keys");
        return;
    };
    runtime.block_on(async {
        for (cache, timeout) in sources {
            match tokio::time::timeout(timeout, cache.current()).await {
                Ok(keys) if !keys.is_empty() => {}
                Ok(_) => eprintln!(
                    "authz-check: warning: keys of {}: {}",
                    cache.url(),
                    cache.last_error().unwrap_or_else(|| "no usable key".into())
                ),
                Err(_) => eprintln!(
                    "authz-check: warning: keys of {}: no answer within {timeout:?}",
                    cache.url()
                ),
            }
        }
    });
}
