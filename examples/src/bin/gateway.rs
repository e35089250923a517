//! The edge-sso gateway: oauth2-proxy's options, Istio's policies.
//!
//! ```text
//! cargo run -p examples --bin gateway                       # the demo, no configuration
//! gateway --upstream=http://127.0.0.1:8080 --oidc-issuer-url=https://idp.example.com \
//!         --client-id=app --client-secret-file=/secrets/client --cookie-secret=... \
//!         --redirect-url=https://app.example.com/oauth2/callback --email-domain='*'
//! gateway --upstream=static://200 ...                       # ext_authz server for Istio CUSTOM
//! gateway --check-config ...                                # validate everything and exit
//! ```

use std::process::ExitCode;

use examples::flags::{FlagError, Flags, Launch};
use examples::gateway::Gateway;

fn main() -> ExitCode {
    let flags = match <Flags as clap::Parser>::try_parse() {
        Ok(flags) => flags,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            eprintln!("gateway: {}", FlagError::from_clap(&e));
            return ExitCode::from(2);
        }
    };
    // clap reads no variable itself: every OAUTH2_PROXY_* one is checked here, so one
    // naming an option the gateway lacks stops it rather than being ignored.
    let launch = match Launch::from_flags(flags, std::env::vars_os()) {
        Ok(launch) => launch,
        Err(e) => {
            eprintln!("gateway: {e}");
            return ExitCode::from(2);
        }
    };
    examples::logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(launch)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(launch: Launch) -> Result<(), String> {
    let options = match launch {
        Launch::Demo => return examples::demo::run(shutdown_signal()).await,
        Launch::Gateway(options) => *options,
    };
    let check = options.check_config;
    let gateway = Gateway::build(options.clone()).await?;
    if check {
        let report = gateway.check().await?;
        for line in &report.lines {
            println!("ok: {line}");
        }
        for warning in &report.warnings {
            println!("warning: {warning}");
        }
        println!("configuration ok");
        return Ok(());
    }
    let bind =
        |addr| examples::gateway::listen(addr).map_err(|e| format!("cannot listen on {addr}: {e}"));
    let listener = bind(options.http_address)?;
    let ext_authz = options.ext_authz_address.map(bind).transpose()?;
    let metrics = options.metrics_address.map(bind).transpose()?;
    tracing::info!(address = %options.http_address, upstream = ?options.upstream, "listening");
    gateway
        .serve(listener, ext_authz, metrics, shutdown_signal())
        .await
}

/// SIGTERM (Kubernetes) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
