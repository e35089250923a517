//! Verifies a JWT against a JWKS file and prints its claims.
//!
//! With no arguments it checks the Istio sample token of the seed documents:
//!
//! ```text
//! cargo run -p oidc-core --example verify_token
//! cargo run -p oidc-core --example verify_token -- JWKS_FILE TOKEN_FILE ISSUER [AUDIENCE]
//! ```

use std::process::ExitCode;

use oidc_core::jwks::KeySet;
use oidc_core::verify::Verifier;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/istio-seed");
    let (jwks_file, token_file, issuer, audience) = match args.as_slice() {
        [] => (
            format!("{data}/jwks.json"),
            format!("{data}/token-group.jwt"),
            "testing@secure.istio.io".to_owned(),
            None,
        ),
        [jwks, token, issuer] => (jwks.clone(), token.clone(), issuer.clone(), None),
        [jwks, token, issuer, aud] => (
            jwks.clone(),
            token.clone(),
            issuer.clone(),
            Some(aud.clone()),
        ),
        _ => {
            eprintln!("usage: verify_token [JWKS_FILE TOKEN_FILE ISSUER [AUDIENCE]]");
            return ExitCode::from(2);
        }
    };
    match run(&jwks_file, &token_file, issuer, audience) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rejected: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    jwks_file: &str,
    token_file: &str,
    issuer: String,
    audience: Option<String>,
) -> Result<String, Box<dyn std::error::Error>> {
    let keys = KeySet::from_json(&std::fs::read(jwks_file)?)?;
    let token = std::fs::read_to_string(token_file)?;
    let builder = Verifier::builder(issuer);
    let verifier = match audience {
        Some(aud) => builder.audience(aud),
        // Istio's jwtRules without `audiences` accept any audience; say so explicitly.
        None => builder.insecure_accept_any_audience(),
    }
    .build()?;
    let verified = verifier.verify(token.trim(), &keys)?;
    Ok(format!(
        "valid {} token, kid {}\nprincipal (iss/sub): {}\nclaims: {}",
        verified.header().alg,
        verified.header().kid.as_deref().unwrap_or("-"),
        verified.principal().unwrap_or_default(),
        serde_json::to_string_pretty(&verified.claims().all)?
    ))
}
