//! The UI's static files, compiled into the binary by `build.rs` from the crate's `ui/`
//! folder: hand-written ES modules and CSS, no build step.
//!
//! The pages route in the browser (History API), so every page path answers the same shell,
//! `index.html`; the modules it loads live under `/ui/`.

use std::borrow::Cow;
use std::path::PathBuf;

/// When set, UI files are read from this folder at each request instead of from the binary,
/// so someone working on the pages sees an edit on reload without rebuilding.
pub(crate) const UI_DIR_ENV: &str = "TELEMETRY_DASHBOARD_UI_DIR";

/// (URL path, content type, bytes) of every file under `ui/`.
const FILES: &[(&str, &str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

const INDEX: &str = "/ui/index.html";

/// The content type and bytes of the UI file at `path`, or `None` when there is none.
pub(crate) fn static_asset(path: &str) -> Option<(&'static str, Cow<'static, [u8]>)> {
    let path = if is_page(path) { INDEX } else { path };
    if let Some(dir) = std::env::var_os(UI_DIR_ENV) {
        return from_dir(PathBuf::from(dir), path);
    }
    FILES
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|&(_, content_type, bytes)| (content_type, Cow::Borrowed(bytes)))
}

/// A file of the development folder; only plain names, so no path leaves the folder.
fn from_dir(mut dir: PathBuf, path: &str) -> Option<(&'static str, Cow<'static, [u8]>)> {
    let relative = path.strip_prefix("/ui/")?;
    for part in relative.split('/') {
        let plain = !part.is_empty()
            && !part.starts_with('.')
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !plain {
            return None;
        }
        dir.push(part);
    }
    let content_type = match dir.extension()?.to_str()? {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        _ => return None,
    };
    std::fs::read(dir)
        .ok()
        .map(|bytes| (content_type, Cow::Owned(bytes)))
}

/// Whether `path` is one of the pages the browser-side router draws (a link or reload to any
/// of them gets the shell, which then draws that page).
fn is_page(path: &str) -> bool {
    let section = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    path == "/"
        || path == "/index.html"
        || section("/traces")
        || section("/metrics")
        || section("/logs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_path_gets_the_shell() {
        for path in [
            "/",
            "/traces",
            "/traces/0af7651916cd43dd8448eb211c80319c",
            "/metrics",
            "/metrics/http.server.duration",
            "/logs",
            "/logs/",
        ] {
            let (content_type, bytes) = static_asset(path).unwrap_or_else(|| panic!("{path}"));
            assert!(content_type.starts_with("text/html"), "{path}");
            assert!(
                std::str::from_utf8(&bytes)
                    .unwrap()
                    .contains("/ui/js/app.js")
            );
        }
        for path in ["/nope", "/tracesx", "/ui/nope.js", "/api"] {
            assert!(static_asset(path).is_none(), "{path}");
        }
    }

    #[test]
    fn the_development_folder_keeps_paths_inside() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ui");
        let (content_type, bytes) = from_dir(dir.clone(), "/ui/js/app.js").unwrap();
        assert!(content_type.starts_with("text/javascript"));
        assert_eq!(&*bytes, static_asset("/ui/js/app.js").unwrap().1.as_ref());
        for path in [
            "/ui/../Cargo.toml",
            "/ui/js/../../build.rs",
            "/ui//app.css",
            "/ui/.x.js",
            "/x.js",
        ] {
            assert!(from_dir(dir.clone(), path).is_none(), "{path}");
        }
    }

    #[test]
    fn modules_and_styles_have_their_types() {
        let (js, _) = static_asset("/ui/js/app.js").unwrap();
        assert!(js.starts_with("text/javascript"));
        let (css, _) = static_asset("/ui/app.css").unwrap();
        assert!(css.starts_with("text/css"));
        for (path, _, _) in FILES {
            assert!(path.starts_with("/ui/"), "{path}");
        }
    }
}
