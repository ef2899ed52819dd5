//! Where the SDK's own warnings go.
//!
//! A telemetry library must not fail the program it observes, so configuration mistakes and
//! dropped data are reported here instead of returned from hot-path calls. By default each
//! report is one line on standard error; a program (or a test) can install its own handler.

use std::fmt;
use std::sync::RwLock;

/// One warning from the SDK.
#[derive(Debug, Clone, Copy)]
pub struct Diagnostic<'a> {
    /// The component that reports, e.g. `"resource"` or `"batcher"`.
    pub component: &'static str,
    /// What happened, and what the SDK did about it.
    pub message: fmt::Arguments<'a>,
}

/// A function that receives every [`Diagnostic`].
pub type DiagnosticHandler = fn(&Diagnostic<'_>);

static HANDLER: RwLock<DiagnosticHandler> = RwLock::new(write_to_stderr);

fn write_to_stderr(diagnostic: &Diagnostic<'_>) {
    eprintln!(
        "telemetry: warning: {}: {}",
        diagnostic.component, diagnostic.message
    );
}

/// Replaces the handler that receives the SDK's warnings, returning the previous one.
pub fn set_diagnostic_handler(handler: DiagnosticHandler) -> DiagnosticHandler {
    let mut slot = HANDLER
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    std::mem::replace(&mut *slot, handler)
}

/// Reports a warning to the installed handler.
pub fn report(component: &'static str, message: fmt::Arguments<'_>) {
    let handler = *HANDLER
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    handler(&Diagnostic { component, message });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

    fn record(diagnostic: &Diagnostic<'_>) {
        SEEN.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(format!("{}: {}", diagnostic.component, diagnostic.message));
    }

    #[test]
    fn reports_reach_the_installed_handler() {
        let previous = set_diagnostic_handler(record);
        report("test", format_args!("value {} ignored", 3));
        set_diagnostic_handler(previous);
        let seen = SEEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        assert!(
            seen.iter().any(|line| line == "test: value 3 ignored"),
            "{seen:?}"
        );
    }
}
