//! The static files of the UI, compiled into the binary.
//!
//! For now one page: `/`, which says where the receivers listen and links the JSON API. The
//! page is a template; the server fills [`ADDRESSES_MARKER`] with the bound addresses, which
//! only it knows.

/// Where the server writes the list of its addresses into the index page.
pub(crate) const ADDRESSES_MARKER: &str = "<!--ADDRESSES-->";

const INDEX_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>telemetry dashboard</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; }
code, pre { font: 13px ui-monospace, monospace; background: #f3f3f3; padding: 0 .2em; }
pre { padding: .6em; overflow-x: auto; }
</style>
</head>
<body>
<h1>telemetry dashboard</h1>
<p>The dashboard receives OTLP from any program and answers queries over a JSON API.
The full user interface is not built yet.</p>
<!--ADDRESSES-->
<h2>JSON API</h2>
<ul>
<li><a href="/api/health">/api/health</a>: what was received and refused</li>
<li><a href="/api/services">/api/services</a>: the services that sent data</li>
<li><a href="/api/traces">/api/traces</a>: recent traces</li>
<li><a href="/api/live">/api/live</a>: live updates as Server-Sent Events</li>
</ul>
</body>
</html>
"#;

/// The content type and bytes of the UI file at `path`, or `None` when there is none.
pub(crate) fn static_asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    match path {
        "/" | "/index.html" => Some(("text/html; charset=utf-8", INDEX_HTML.as_bytes())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_html_with_the_marker() {
        let (content_type, bytes) = static_asset("/").unwrap();
        assert!(content_type.starts_with("text/html"));
        let text = std::str::from_utf8(bytes).unwrap();
        assert_eq!(text.matches(ADDRESSES_MARKER).count(), 1);
        assert!(static_asset("/nope.js").is_none());
    }
}
