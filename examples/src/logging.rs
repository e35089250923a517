//! Logs for the binaries: `tracing` to stderr, filtered by `RUST_LOG` (default `info`),
//! as JSON lines when `GATEWAY_LOG_FORMAT=json`. Token and cookie values are never logged.

/// Installs the subscriber (once; later calls do nothing).
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if std::env::var("GATEWAY_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
