//! How a program ends without losing telemetry: returning from `main`, panicking in `main`,
//! or being asked to stop with SIGTERM (what `docker stop`, Kubernetes and systemd send).
//!
//! Spans and log records wait in queues, and metrics in memory, until an export: ending the
//! process without a flush loses them. The guard [`telemetry::init`] returns flushes every
//! signal and shuts the exporters down when it is dropped, so the rules are:
//!
//! - Keep the guard in `main`, declared before everything that records. Locals drop in
//!   reverse order, so spans still open in `main` end first and are exported by the guard's
//!   flush, on a normal return and while a panic unwinds alike.
//! - A panic unwinds through `main` and drops the guard, which flushes. Wrap risky work in
//!   [`telemetry::traced`] (or `#[traced]`) so its span records the panic as an error before
//!   it goes on unwinding. With `panic = "abort"` nothing is dropped and nothing is flushed:
//!   keep the default `unwind` in programs that must report their crashes.
//! - SIGTERM kills a process at once unless it is handled. Handle it (here with tokio's
//!   `signal` feature), end what is open, drop the guard, then exit. Never call
//!   `std::process::exit` with the guard alive: it runs no destructors.
//!
//! The program reads a mode and a number of jobs, runs the jobs (a span, a log record and a
//! counter add each) in one trace, prints a `ready` line with what it recorded, and ends as
//! the mode says. The exporters come from the `OTEL_*` variables (OTLP to localhost:4318 by
//! default):
//!
//! ```text
//! cargo run -p telemetry --example process_end -- return 20
//! cargo run -p telemetry --example process_end -- panic 20
//! cargo run -p telemetry --example process_end -- sigterm 20   # then: kill -TERM <pid>
//! OTEL_TRACES_EXPORTER=console cargo run -p telemetry --example process_end -- return 3
//! ```
#![allow(
    clippy::print_stdout,
    reason = "an example reports to its user on stdout"
)]

use std::convert::Infallible;
use std::error::Error;
use std::fmt;
use std::process::ExitCode;

use telemetry::{KeyValue, LogRecord, Severity};

/// How the program ends once its jobs are done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `main` returns: the guard drops at the end of `main`.
    Return,
    /// `main` panics: the guard drops while the panic unwinds.
    Panic,
    /// The program waits for SIGTERM, then shuts telemetry down and exits.
    Sigterm,
}

/// A command line the program does not understand.
#[derive(Debug)]
struct Usage(String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\nusage: process_end <return|panic|sigterm> <jobs>",
            self.0
        )
    }
}

impl Error for Usage {}

fn parse_args() -> Result<(Mode, u32), Usage> {
    let mut args = std::env::args().skip(1);
    let mode = match args.next().as_deref() {
        Some("return") => Mode::Return,
        Some("panic") => Mode::Panic,
        Some("sigterm") => Mode::Sigterm,
        other => return Err(Usage(format!("unknown mode {other:?}"))),
    };
    let jobs = args
        .next()
        .ok_or_else(|| Usage("the number of jobs is missing".to_owned()))?;
    let jobs = jobs
        .parse()
        .map_err(|error| Usage(format!("jobs {jobs:?}: {error}")))?;
    Ok((mode, jobs))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("process_end: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let (mode, jobs) = parse_args()?;

    // SIGTERM is handled from the start: until a handler is in place its default action
    // kills the process on the spot, with everything still queued.
    let shutdown = match mode {
        Mode::Sigterm => Some(ShutdownSignal::install()?),
        Mode::Return | Mode::Panic => None,
    };

    // First in, last out: every span and record below is flushed when this drops.
    let guard = telemetry::init();
    let items = telemetry::create_counter("process_end.items")?;

    // The root of the run's trace; open until the end, so it ends while `main` unwinds or
    // returns, before the guard drops.
    let root = telemetry::start_span("process_end.run", None);
    root.set_attribute(KeyValue::new("process_end.mode", format!("{mode:?}")));
    let entered = root.enter();

    let mut total = 0.0;
    for job in 0..jobs {
        let span = telemetry::start_span("process_end.job", None);
        span.set_attribute(KeyValue::new("job.index", i64::from(job)));
        let _in_job = span.enter();
        let amount = f64::from(job + 1);
        items.add(amount, &[KeyValue::new("job.kind", "batch")]);
        total += amount;
        // Through the `log` crate (the `log` feature): carries the job span's ids.
        log::info!("job {job} done");
    }
    guard
        .telemetry()
        .logger()
        .emit(LogRecord::new(Severity::INFO).with_body(format!("{jobs} jobs done")));

    // Everything above has ended: the test driving this example waits for this line.
    println!(
        "ready trace_id={} spans={jobs} logs={} counter_total={total}",
        root.span_context().trace_id(),
        u64::from(jobs) + 1
    );

    match mode {
        // `entered`, `root` and `guard` drop here, in that order: the root span ends and
        // the guard flushes it with everything else.
        Mode::Return => Ok(()),
        Mode::Panic => {
            // The span records the panic (an `exception` event, status ERROR) and ends, then
            // the panic unwinds through `main`, ending `root` and dropping the guard.
            let _ = telemetry::traced(
                "process_end.fail",
                vec![KeyValue::new("job.index", i64::from(jobs))],
                || -> Result<(), Infallible> { panic!("job {jobs}: corrupt input") },
            );
            Ok(())
        }
        Mode::Sigterm => {
            let signal = shutdown.ok_or("no signal handler")?.wait()?;
            root.set_attribute(KeyValue::new("process_end.signal", signal));
            guard
                .telemetry()
                .logger()
                .emit(LogRecord::new(Severity::INFO).with_body(format!("{signal}: stopping")));
            // Explicit, to show the order: end what is open, then flush and shut down. A
            // program that must exit with a code of its own calls `std::process::exit`
            // only after this.
            drop(entered);
            drop(root);
            drop(guard);
            Ok(())
        }
    }
}

/// SIGTERM (and Ctrl-C) caught by tokio's `signal` feature, on a small runtime of its own:
/// the program needs no async code otherwise. A program already in `#[tokio::main]` awaits
/// the same `recv()` there (in a `tokio::select!` with its server), and keeps the guard in a
/// plain `fn main` around the runtime, so it drops after the runtime has stopped.
struct ShutdownSignal {
    runtime: tokio::runtime::Runtime,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    /// Registers the handlers; from here on the signals are queued for [`Self::wait`].
    fn install() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        #[cfg(unix)]
        let terminate = {
            let _runtime = runtime.enter();
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?
        };
        Ok(ShutdownSignal {
            runtime,
            #[cfg(unix)]
            terminate,
        })
    }

    /// Waits for SIGTERM or Ctrl-C; returns which came.
    #[cfg(unix)]
    fn wait(mut self) -> std::io::Result<&'static str> {
        self.runtime.block_on(async {
            tokio::select! {
                _ = self.terminate.recv() => Ok("SIGTERM"),
                interrupted = tokio::signal::ctrl_c() => interrupted.map(|()| "SIGINT"),
            }
        })
    }

    /// Waits for Ctrl-C, the only one of the two outside Unix.
    #[cfg(not(unix))]
    fn wait(self) -> std::io::Result<&'static str> {
        self.runtime
            .block_on(tokio::signal::ctrl_c())
            .map(|()| "Ctrl-C")
    }
}
