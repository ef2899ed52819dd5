//! The UI and API port: `/api/live` (the live stream), other `/api/` paths (the backend's
//! JSON API), and the static UI files; with the token check of DESIGN.md §6.
//!
//! Without a token the port is reachable only from this machine, but a web page could still
//! reach it through DNS rebinding (a hostile name resolving to 127.0.0.1), so requests must
//! then name a loopback host. With a token, every request must carry it; a `?token=` that
//! matches sets a cookie, so the page's own requests and its `EventSource` carry it on.

use std::sync::Arc;

use http::header::{
    ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, COOKIE, HOST, HeaderValue,
    LOCATION, SET_COOKIE, WWW_AUTHENTICATE,
};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::assets::static_asset;
use super::body::{BodyError, ResponseBody, read_limited};
use super::otlp_http::gunzip_off_thread;
use super::{Shared, TOKEN_COOKIE, live, offload, secret_matches};
use crate::backend::ApiRequest;

/// Answers one request on the UI port.
pub(crate) async fn handle(shared: &Arc<Shared>, req: Request<Incoming>) -> Response<ResponseBody> {
    let set_cookie = match &shared.config.token {
        None => {
            if !host_is_loopback(&req) {
                return text(
                    StatusCode::FORBIDDEN,
                    "the Host header must name a loopback address\n",
                );
            }
            false
        }
        Some(token) => match check_token(token, &req) {
            TokenCheck::Missing => {
                let mut response = text(
                    StatusCode::UNAUTHORIZED,
                    "a token is required: open the dashboard with ?token=<token> or send Authorization: Bearer <token>\n",
                );
                response
                    .headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return response;
            }
            TokenCheck::Header => false,
            TokenCheck::Query => true,
        },
    };
    let mut response = route(shared, req).await;
    if set_cookie && let Some(token) = &shared.config.token {
        let cookie = format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(SET_COOKIE, v);
        }
    }
    response
}

async fn route(shared: &Arc<Shared>, req: Request<Incoming>) -> Response<ResponseBody> {
    let path = req.uri().path().to_owned();
    if path == "/api/live" {
        if req.method() != Method::GET {
            return not_allowed("GET");
        }
        let since = query_param(req.uri().query(), "since")
            .or_else(|| {
                req.headers()
                    .get("last-event-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        return live::open(shared, since);
    }
    if path == "/api/about" {
        if req.method() != Method::GET {
            return not_allowed("GET");
        }
        return json(about(shared));
    }
    if path == "/login" {
        // `handle` already checked the token (in `t`) and set the cookie: go to the pages.
        return see_other("/");
    }
    if path == "/api" || path.starts_with("/api/") {
        return api(shared, req).await;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return not_allowed("GET, HEAD");
    }
    let Some((content_type, bytes)) = static_asset(&path) else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    let mut response = Response::new(if req.method() == Method::HEAD {
        ResponseBody::empty()
    } else {
        match bytes {
            std::borrow::Cow::Borrowed(b) => ResponseBody::full(bytes::Bytes::from_static(b)),
            std::borrow::Cow::Owned(b) => ResponseBody::full(b),
        }
    });
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, content_type_header(content_type));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // The pages load only their own modules and talk only to this port; data drawn from
    // spans and logs is inserted as text, and this policy is the second line should a page
    // ever slip: no inline script, no script from elsewhere.
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    // The files change only with the binary; revalidating each load keeps an upgraded
    // dashboard from running old modules against a new API.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'; form-action 'self'";

/// Passes an `/api/` request to the backend, its body read within the API limit.
async fn api(shared: &Arc<Shared>, req: Request<Incoming>) -> Response<ResponseBody> {
    let (parts, body) = req.into_parts();
    let limit = shared.config.max_api_body_size;
    let gzip = match parts
        .headers
        .get(CONTENT_ENCODING)
        .map(HeaderValue::as_bytes)
    {
        None => false,
        Some(e) if e.eq_ignore_ascii_case(b"identity") => false,
        Some(e) if e.eq_ignore_ascii_case(b"gzip") => true,
        Some(_) => {
            return text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Encoding must be gzip or identity\n",
            );
        }
    };
    let body = match read_limited(body, limit, shared.config.body_read_timeout).await {
        Ok(b) if gzip => gunzip_off_thread(b, limit).await,
        other => other,
    };
    let body = match body {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body over the limit\n",
            );
        }
        Err(BodyError::BadGzip(_)) => return text(StatusCode::BAD_REQUEST, "invalid gzip body\n"),
        Err(BodyError::Transport) => {
            return text(
                StatusCode::BAD_REQUEST,
                "the request body did not arrive whole\n",
            );
        }
        Err(BodyError::Timeout) => {
            return text(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive within the body read timeout\n",
            );
        }
    };
    let backend = Arc::clone(&shared.backend);
    let answer = offload(body.len(), move || {
        let request = ApiRequest {
            method: &parts.method,
            path: parts.uri.path(),
            query: parts.uri.query(),
            body: &body,
        };
        backend.api(&request)
    })
    .await;
    let Some(answer) = answer else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "the request failed\n");
    };
    let mut response = Response::new(ResponseBody::full(answer.body));
    *response.status_mut() = answer.status;
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, content_type_header(answer.content_type));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `/api/about`: where this dashboard listens and what a sender needs, for the overview's
/// "send data here" panel (only the server knows its bound addresses).
fn about(shared: &Shared) -> Vec<u8> {
    let a = shared.addrs;
    let value = serde_json::json!({
        "ui": format!("http://{}", a.ui),
        "otlpHttp": format!("http://{}", a.http),
        "otlpGrpc": format!("http://{}", a.grpc),
        "apiKeyRequired": shared.config.otlp_api_key.is_some(),
        "apiKeyHeader": super::OTLP_API_KEY_HEADER,
        "tokenRequired": shared.config.token.is_some(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    serde_json::to_vec(&value).unwrap_or_default()
}

fn json(body: Vec<u8>) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn see_other(location: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    response
        .headers_mut()
        .insert(LOCATION, HeaderValue::from_static(location));
    response
}

enum TokenCheck {
    Missing,
    /// In `Authorization` or the cookie.
    Header,
    /// In the query string: answer with the cookie.
    Query,
}

fn check_token(token: &str, req: &Request<Incoming>) -> TokenCheck {
    let headers = req.headers();
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .is_some_and(|(_, given)| secret_matches(token, given.trim().as_bytes()));
    if bearer || cookie_matches(token, headers) {
        return TokenCheck::Header;
    }
    // `/login?t=<token>` is the link the binary prints; `?token=` works on any page.
    let name = if req.uri().path() == "/login" {
        "t"
    } else {
        "token"
    };
    if query_param(req.uri().query(), name)
        .is_some_and(|given| secret_matches(token, given.as_bytes()))
    {
        return TokenCheck::Query;
    }
    TokenCheck::Missing
}

fn cookie_matches(token: &str, headers: &HeaderMap) -> bool {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == TOKEN_COOKIE && secret_matches(token, value.as_bytes()))
}

/// Whether the request names a loopback host (`localhost` or a loopback IP, any port). A
/// request without any host (HTTP/1.0) cannot come from a browser and passes.
fn host_is_loopback(req: &Request<Incoming>) -> bool {
    let host = match req.uri().host() {
        Some(h) => h.to_owned(),
        None => match req.headers().get(HOST).and_then(|h| h.to_str().ok()) {
            Some(h) => h.to_owned(),
            None => return true,
        },
    };
    super::otlp_http::is_loopback_origin(&format!("http://{host}"))
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .eq_ignore_ascii_case("::1")
}

/// The percent-decoded value of `name` in a query string.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| percent_decode(value))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A `Content-Type` header; `from_static` would panic on a value a header cannot hold.
fn content_type_header(value: &'static str) -> HeaderValue {
    HeaderValue::from_str(value)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

fn not_allowed(allow: &'static str) -> Response<ResponseBody> {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

fn text(status: StatusCode, message: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::full(message));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_percent_decoded() {
        assert_eq!(
            query_param(Some("a=1&token=x%2By+z"), "token").as_deref(),
            Some("x+y z")
        );
        assert_eq!(query_param(Some("since=5"), "since").as_deref(), Some("5"));
        assert_eq!(query_param(Some("token"), "token").as_deref(), Some(""));
        assert_eq!(query_param(Some("tokens=1"), "token"), None);
        assert_eq!(query_param(None, "token"), None);
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn cookies() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=b; telemetry_dashboard_token=s3cret"),
        );
        assert!(cookie_matches("s3cret", &h));
        assert!(!cookie_matches("other", &h));
    }
}
