//! `telemetry-dashboard`: the standalone dashboard. It receives OTLP over gRPC (4317) and
//! HTTP (4318), keeps it in a bounded in-memory store, and serves the UI and JSON API (18888)
//! until Ctrl-C.
//!
//! The flags are parsed by hand: eight of them do not justify a parser dependency and its
//! build time in every CI run.
#![forbid(unsafe_code)]

mod demo;

use std::fmt;
use std::io::Write as _;
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;

use telemetry_dashboard::backend::Backend;
use telemetry_dashboard::{
    DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT, DEFAULT_UI_PORT, DashboardServer, RunningDashboard,
    Store, StoreConfig,
};

/// The environment variable that may carry the token instead of `--token`, which other users
/// of the machine could read in the process list.
const TOKEN_ENV: &str = "TELEMETRY_DASHBOARD_TOKEN";

const USAGE: &str = "\
telemetry-dashboard: receive OpenTelemetry data (OTLP) and look at it in a browser.

USAGE:
    telemetry-dashboard [OPTIONS]

OPTIONS:
    --bind <ADDR>            Address all listeners bind [default: 127.0.0.1]
                             (any other than loopback needs a token: see --token)
    --grpc-port <PORT>       OTLP/gRPC port [default: 4317]
    --http-port <PORT>       OTLP/HTTP port [default: 4318]
    --ui-port <PORT>         UI and JSON API port [default: 18888]
    --memory-budget <SIZE>   Memory for stored data, e.g. 256MiB, 1GiB [default: 256MiB]
    --token <TOKEN>          Token the UI and API require: letters, digits, -._~
                             (without one, a non-loopback bind generates one and
                             prints its login link)
    --otlp-api-key <KEY>     API key OTLP senders must send in the x-otlp-api-key header
    --demo                   Also run a demo workload: three services (an agent that splits
                             tasks recursively, its tools, a knowledge service) sending
                             real OTLP/HTTP traces, metrics and logs to this dashboard
    -h, --help               Print this help

ENVIRONMENT:
    TELEMETRY_DASHBOARD_TOKEN   The token, instead of --token
    TELEMETRY_DASHBOARD_UI_DIR  Serve the pages from this folder instead of the binary
                                (for working on them: an edit shows on reload)
";

/// The parsed command line.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    bind: Option<IpAddr>,
    grpc_port: u16,
    http_port: u16,
    ui_port: u16,
    memory_budget: Option<usize>,
    token: Option<String>,
    otlp_api_key: Option<String>,
    demo: bool,
    help: bool,
}

/// A command line that does not parse.
#[derive(Debug, PartialEq, Eq)]
enum ArgError {
    /// A flag we do not know.
    Unknown(String),
    /// A flag given without its value.
    MissingValue(&'static str),
    /// A value that does not parse for its flag.
    Invalid {
        flag: &'static str,
        value: String,
        expected: &'static str,
    },
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::Unknown(flag) => write!(f, "unknown option {flag:?}"),
            ArgError::MissingValue(flag) => write!(f, "{flag} needs a value"),
            ArgError::Invalid {
                flag,
                value,
                expected,
            } => {
                write!(f, "invalid value {value:?} for {flag}: expected {expected}")
            }
        }
    }
}

impl std::error::Error for ArgError {}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, ArgError> {
    let mut out = Args {
        bind: None,
        grpc_port: DEFAULT_GRPC_PORT,
        http_port: DEFAULT_HTTP_PORT,
        ui_port: DEFAULT_UI_PORT,
        memory_budget: None,
        token: None,
        otlp_api_key: None,
        demo: false,
        help: false,
    };
    const FLAGS: [&str; 7] = [
        "--bind",
        "--grpc-port",
        "--http-port",
        "--ui-port",
        "--memory-budget",
        "--token",
        "--otlp-api-key",
    ];
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            out.help = true;
            continue;
        }
        if arg == "--demo" {
            out.demo = true;
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        let Some(flag) = FLAGS.iter().copied().find(|f| *f == name) else {
            return Err(ArgError::Unknown(arg));
        };
        let Some(value) = inline.or_else(|| args.next()) else {
            return Err(ArgError::MissingValue(flag));
        };
        let invalid = |expected| ArgError::Invalid {
            flag,
            value: value.clone(),
            expected,
        };
        match flag {
            "--bind" => out.bind = Some(value.parse().map_err(|_| invalid("an IP address"))?),
            "--grpc-port" => out.grpc_port = value.parse().map_err(|_| invalid("a port"))?,
            "--http-port" => out.http_port = value.parse().map_err(|_| invalid("a port"))?,
            "--ui-port" => out.ui_port = value.parse().map_err(|_| invalid("a port"))?,
            "--memory-budget" => {
                out.memory_budget =
                    Some(parse_size(&value).ok_or_else(|| invalid("a size such as 256MiB"))?);
            }
            "--token" => out.token = Some(value),
            _ => out.otlp_api_key = Some(value),
        }
    }
    Ok(out)
}

/// A byte size: a number with an optional unit, `K`/`KiB`, `M`/`MiB`, `G`/`GiB` (powers of
/// 1024) or `KB`, `MB`, `GB` (powers of 1000); case-insensitive.
fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: usize = number.parse().ok()?;
    let multiplier: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

fn main() -> ExitCode {
    let mut stderr = std::io::stderr().lock();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            let _ = writeln!(stderr, "error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.help {
        let _ = std::io::stdout().lock().write_all(USAGE.as_bytes());
        return ExitCode::SUCCESS;
    }
    let mut store_config = StoreConfig::default();
    if let Some(budget) = args.memory_budget {
        store_config.memory_budget_bytes = budget;
    }
    let store = Arc::new(Store::new(store_config));
    let budget = store.config().memory_budget_bytes;
    let mut builder = DashboardServer::builder(store as Arc<dyn Backend>)
        .grpc_port(args.grpc_port)
        .http_port(args.http_port)
        .ui_port(args.ui_port);
    if let Some(bind) = args.bind {
        builder = builder.bind(bind);
    }
    let token = args
        .token
        .or_else(|| std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()));
    // Beyond loopback the pages need a token; rather than refuse, make one and say so loudly.
    let token = match token {
        Some(token) => Some(token),
        None if args.bind.is_some_and(|b| !b.is_loopback()) => match generated_token() {
            Ok(token) => {
                let _ = writeln!(
                    stderr,
                    "WARNING: binding beyond loopback without --token: generated a token. \
                     Anyone with the login link below can read everything this dashboard stores."
                );
                Some(token)
            }
            Err(e) => {
                let _ = writeln!(stderr, "error: cannot generate a token: {e}; pass --token");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    if let Some(token) = &token {
        builder = builder.token(token.clone());
    }
    if let Some(key) = &args.otlp_api_key {
        builder = builder.otlp_api_key(key.clone());
    }
    let running = match builder.build().start() {
        Ok(running) => running,
        Err(e) => {
            let _ = writeln!(stderr, "error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _ = print_banner(
        &running,
        budget,
        token.as_deref(),
        args.otlp_api_key.is_some(),
    );
    // The demo sends through the OTLP/HTTP receiver like any other program; with an API key
    // configured it would be refused, so the two do not go together.
    let demo = if args.demo && args.otlp_api_key.is_none() {
        match demo::Demo::start(running.http_addr()) {
            Ok(demo) => {
                let _ = writeln!(
                    std::io::stdout().lock(),
                    "Demo workload running: services agent, tools and knowledge."
                );
                Some(demo)
            }
            Err(e) => {
                let _ = writeln!(stderr, "error: the demo workload did not start: {e}");
                None
            }
        }
    } else {
        if args.demo {
            let _ = writeln!(
                stderr,
                "error: --demo cannot send with --otlp-api-key set; no demo"
            );
        }
        None
    };
    if let Err(e) = wait_for_ctrl_c() {
        let _ = writeln!(stderr, "error: cannot wait for Ctrl-C: {e}; stopping");
    }
    let _ = writeln!(stderr, "stopping");
    if let Some(demo) = demo {
        demo.stop();
    }
    match running.shutdown() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(stderr, "error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// 128 bits from the operating system's random source, as 32 hex digits (URL-safe).
fn generated_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn print_banner(
    running: &RunningDashboard,
    budget: usize,
    token: Option<&str>,
    api_key: bool,
) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let ui = running.ui_addr();
    let http = running.http_addr();
    let grpc = running.grpc_addr();
    writeln!(
        out,
        "telemetry-dashboard is running (memory budget {} MiB)",
        budget >> 20
    )?;
    match token {
        Some(token) => writeln!(out, "  UI:        http://{ui}/login?t={token}")?,
        None => writeln!(out, "  UI:        http://{ui}/")?,
    }
    writeln!(
        out,
        "  OTLP/HTTP: http://{http}  (/v1/traces, /v1/metrics, /v1/logs)"
    )?;
    writeln!(out, "  OTLP/gRPC: http://{grpc}")?;
    writeln!(out)?;
    writeln!(out, "Point a program at it with:")?;
    writeln!(out, "  OTEL_EXPORTER_OTLP_ENDPOINT=http://{http}")?;
    writeln!(out, "  OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf")?;
    writeln!(out, "or over gRPC:")?;
    writeln!(out, "  OTEL_EXPORTER_OTLP_ENDPOINT=http://{grpc}")?;
    writeln!(out, "  OTEL_EXPORTER_OTLP_PROTOCOL=grpc")?;
    if api_key {
        writeln!(out, "with the API key:")?;
        writeln!(out, "  OTEL_EXPORTER_OTLP_HEADERS=x-otlp-api-key=<key>")?;
    }
    writeln!(out)?;
    writeln!(out, "Press Ctrl-C to stop.")?;
    out.flush()
}

/// Blocks until Ctrl-C (or, on Unix, SIGTERM, which container runtimes send to stop).
fn wait_for_ctrl_c() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r,
                _ = term.recv() => Ok(()),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, ArgError> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn defaults() {
        let args = parse(&[]).unwrap();
        assert_eq!(
            (args.grpc_port, args.http_port, args.ui_port),
            (4317, 4318, 18888)
        );
        assert_eq!(args.bind, None);
        assert!(!args.help);
    }

    #[test]
    fn every_flag_both_forms() {
        let args = parse(&[
            "--bind=0.0.0.0",
            "--grpc-port",
            "14317",
            "--http-port=14318",
            "--ui-port",
            "0",
            "--memory-budget",
            "64MiB",
            "--token=t",
            "--otlp-api-key",
            "k",
        ])
        .unwrap();
        assert_eq!(
            args,
            Args {
                bind: Some("0.0.0.0".parse().unwrap()),
                grpc_port: 14317,
                http_port: 14318,
                ui_port: 0,
                memory_budget: Some(64 << 20),
                token: Some("t".into()),
                otlp_api_key: Some("k".into()),
                demo: false,
                help: false,
            }
        );
        assert!(parse(&["--help"]).unwrap().help);
        assert!(parse(&["--demo"]).unwrap().demo);
    }

    #[test]
    fn errors() {
        assert_eq!(parse(&["--port"]), Err(ArgError::Unknown("--port".into())));
        assert_eq!(
            parse(&["--ui-port"]),
            Err(ArgError::MissingValue("--ui-port"))
        );
        assert!(matches!(
            parse(&["--ui-port", "70000"]),
            Err(ArgError::Invalid { .. })
        ));
        assert!(matches!(
            parse(&["--bind", "localhost"]),
            Err(ArgError::Invalid { .. })
        ));
        assert!(matches!(
            parse(&["--memory-budget", "lots"]),
            Err(ArgError::Invalid { .. })
        ));
    }

    #[test]
    fn generated_tokens_are_url_safe_and_differ() {
        let a = generated_token().unwrap();
        let b = generated_token().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("256MiB"), Some(256 << 20));
        assert_eq!(parse_size("256 mib"), Some(256 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("2KB"), Some(2000));
        assert_eq!(parse_size("MiB"), None);
        assert_eq!(parse_size("1.5GiB"), None);
        assert_eq!(parse_size("99999999999999999999GiB"), None);
        assert_eq!(parse_size(&format!("{}GiB", usize::MAX)), None);
    }
}
