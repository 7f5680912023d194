//! The web dashboard served at `/` by the admin port: one HTML page, its stylesheet
//! and script, and the vendored uPlot chart library, all embedded in the binary (no
//! CDN, works offline). Every answer carries a strict Content-Security-Policy: scripts
//! and styles only from this origin, no inline script, no framing.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The policy of the page and its assets.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const INDEX: &[u8] = include_bytes!("assets/index.html");

const ASSETS: [Asset; 6] = [
    Asset {
        name: "dom.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/dom.js"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("assets/app.css"),
    },
    Asset {
        name: "charts.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/charts.js"),
    },
    Asset {
        name: "uPlot.iife.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/vendor/uPlot.iife.min.js"),
    },
    Asset {
        name: "uPlot.min.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("assets/vendor/uPlot.min.css"),
    },
];

fn respond(status: StatusCode, content_type: &'static str, body: &'static [u8]) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `GET /`: the page.
pub async fn index() -> Response {
    respond(StatusCode::OK, "text/html; charset=utf-8", INDEX)
}

/// `GET /assets/{name}`: a script, stylesheet or the chart library.
pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => respond(StatusCode::OK, a.content_type, a.body),
        None => respond(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            b"no such asset\n",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn page_and_assets_carry_the_policy() {
        let page = index().await;
        assert_eq!(page.status(), StatusCode::OK);
        let csp = page.headers().get(header::CONTENT_SECURITY_POLICY);
        assert_eq!(csp.and_then(|v| v.to_str().ok()), Some(CSP));
        for a in &ASSETS {
            let r = asset(Path(a.name.to_string())).await;
            assert_eq!(r.status(), StatusCode::OK, "{}", a.name);
            assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        }
        let missing = asset(Path("../mod.rs".to_string())).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn the_page_has_no_inline_script_or_style_and_loads_only_local_files() {
        let html = String::from_utf8_lossy(INDEX);
        for tag in html.split("<script").skip(1) {
            let (attrs, rest) = tag.split_once('>').unwrap_or((tag, ""));
            assert!(attrs.contains("src=\"/assets/"), "inline or remote script");
            assert!(rest.trim_start().starts_with("</script>"), "inline script");
        }
        assert!(!html.contains("<style"), "inline style");
        assert!(!html.contains("style=\""), "style attribute");
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(!has_event_attribute(&html), "inline event handler");
    }

    /// Whether `html` has an attribute like `onclick=`.
    fn has_event_attribute(html: &str) -> bool {
        html.match_indices(" on").any(|(i, _)| {
            let rest = html.get(i + 3..).unwrap_or("");
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            !name.is_empty() && rest.get(name.len()..).is_some_and(|r| r.starts_with('='))
        })
    }

    #[test]
    fn event_attributes_are_spotted() {
        assert!(has_event_attribute("<img src=x onerror=alert(1)>"));
        assert!(!has_event_attribute("<p>served on the admin port</p>"));
    }

    #[test]
    fn the_script_never_writes_html_from_data() {
        for a in ASSETS
            .iter()
            .filter(|a| a.name.ends_with(".js") && !a.name.starts_with("uPlot"))
        {
            let js = String::from_utf8_lossy(a.body);
            for banned in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
            ] {
                assert!(!js.contains(banned), "{} uses {banned}", a.name);
            }
            assert!(
                !js.contains("localStorage"),
                "the token stays in sessionStorage"
            );
        }
    }
}
