//! The operator dashboard: the static assets of `dashboard/` (HTML, CSS, JavaScript), embedded into
//! the binary with `rust-embed` and served at `/` and `/<asset path>`.
//!
//! The assets hold no data and need no token; the pages read everything from the public REST API
//! and event stream (`/api/v1/...`) with the bearer token the operator enters on the login page.
//! Mounted after the API routes as the router's fallback: a path the API does not know under
//! `/api/` gets the API's JSON `404`, any other unknown path a plain `404`.
//!
//! Every asset is served with its content type (from [`content_type`]), `X-Content-Type-Options:
//! nosniff`, a restrictive [`CONTENT_SECURITY_POLICY`] (scripts, styles, images and connections
//! from this origin only; no inline script, no framing) and `Cache-Control: no-cache` so an
//! upgraded binary's assets are picked up.

use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

/// The embedded `dashboard/` folder.
#[derive(RustEmbed)]
#[folder = "../../dashboard/"]
#[exclude = "README.md"]
pub struct Assets;

/// The `Content-Security-Policy` of every dashboard response.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The dashboard router: every path not matched before it (mount it after the API with `merge`).
pub fn router() -> Router {
    Router::new().fallback(serve)
}

/// The content type of an asset, from its file extension (`application/octet-stream` if unknown).
pub fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "webmanifest" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

async fn serve(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") {
        return crate::api::ApiError::not_found(format!("no API route {path}")).into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let name = match path.trim_start_matches('/') {
        "" => "index.html",
        p => p,
    };
    match Assets::get(name) {
        Some(file) => asset(name, file.data.into_owned()),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

fn asset(name: &str, body: Vec<u8>) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(name)),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    /// What each kind of asset must be served as, written out independently of [`content_type`].
    fn expected(name: &str) -> &'static str {
        let ext = name.rsplit('.').next().unwrap_or("");
        match ext {
            "html" => "text/html; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "js" => "text/javascript; charset=utf-8",
            "svg" => "image/svg+xml",
            "png" => "image/png",
            "ico" => "image/x-icon",
            other => panic!("asset {name} has an extension ({other}) the test does not know"),
        }
    }

    async fn get(path: &str) -> Response {
        router()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn every_embedded_asset_is_served_with_its_content_type_and_csp() {
        let names: Vec<String> = Assets::iter().map(|n| n.into_owned()).collect();
        assert!(names.iter().any(|n| n == "index.html"), "{names:?}");
        assert!(names.iter().any(|n| n.ends_with(".js")), "{names:?}");
        assert!(names.iter().any(|n| n.ends_with(".css")), "{names:?}");
        for name in &names {
            let r = get(&format!("/{name}")).await;
            assert_eq!(r.status(), StatusCode::OK, "{name}");
            let ct = r.headers()[header::CONTENT_TYPE].to_str().unwrap();
            assert_eq!(ct, expected(name), "{name}");
            let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap();
            assert!(csp.contains("script-src 'self'"), "{name}: {csp}");
            assert!(!csp.contains("unsafe-inline"), "{name}: {csp}");
            let body = axum::body::to_bytes(r.into_body(), 1 << 22).await.unwrap();
            let embedded = Assets::get(name).unwrap();
            assert_eq!(&body[..], &embedded.data[..], "{name}");
        }
    }

    #[tokio::test]
    async fn root_is_the_index_page_and_unknown_paths_are_404() {
        let r = get("/").await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(
            get("/no-such-page.html").await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(get("/README.md").await.status(), StatusCode::NOT_FOUND);
        let api = get("/api/v1/no-such-route").await;
        assert_eq!(api.status(), StatusCode::NOT_FOUND);
        assert_eq!(api.headers()[header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn no_page_has_an_inline_script_or_a_remote_resource() {
        for name in Assets::iter().filter(|n| n.ends_with(".html")) {
            let text = String::from_utf8(Assets::get(&name).unwrap().data.into_owned()).unwrap();
            for (i, tag) in text.split("<script").skip(1).enumerate() {
                let open = tag.split('>').next().unwrap_or("");
                assert!(open.contains("src="), "{name}: inline <script> #{i}");
            }
            let handler = text.split(" on").skip(1).find(|rest| {
                let attr: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
                !attr.is_empty() && rest[attr.len()..].starts_with('=')
            });
            assert!(
                handler.is_none(),
                "{name}: inline event handler on{handler:?}"
            );
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "{name}: remote URL"
            );
        }
    }
}
