//! Who may use the chat: the access token (link, then cookie), the same-origin rule for
//! writes, and the browser id cookie that is the user.

use super::*;

pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    axum_extra::extract::CookieJar::from_headers(headers)
        .get(name)
        .map(|c| c.value().to_string())
}

/// Compares secrets in time independent of where they differ.
pub(crate) fn same_secret(given: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

pub(super) fn valid_browser_id(id: &str) -> bool {
    (16..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Access check, same-origin check for writes, and the browser id (set when missing).
pub(super) async fn identify(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let headers = request.headers().clone();
    let mut set_cookies: Vec<String> = Vec::new();
    if let Some(token) = &app.options.access_token {
        let query_token = request.uri().query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "access")
                .map(|(_, v)| v.into_owned())
        });
        if query_token.as_deref().is_some_and(|t| same_secret(t, token)) {
            let mut response = Redirect::to(request.uri().path()).into_response();
            append_cookie(
                &mut response,
                &format!("{ACCESS_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000"),
            );
            return response;
        }
        if !cookie(&headers, ACCESS_COOKIE).is_some_and(|c| same_secret(&c, token)) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "This headshot chat needs an access link: open it with ?access=TOKEN as the operator \
                 gave it to you.",
            )
                .into_response();
        }
    }
    if request.method() != axum::http::Method::GET && !same_origin(&headers) {
        return error(StatusCode::FORBIDDEN, "Requests from other sites are refused.");
    }
    let id = match cookie(&headers, BROWSER_COOKIE).filter(|c| valid_browser_id(c)) {
        Some(id) => id,
        None => {
            let id: String = rand::thread_rng()
                .sample_iter(&rand::distributions::Alphanumeric)
                .take(24)
                .map(char::from)
                .collect();
            set_cookies.push(format!(
                "{BROWSER_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000"
            ));
            id
        }
    };
    request.extensions_mut().insert(Browser(id));
    let mut response = next.run(request).await;
    for c in set_cookies {
        append_cookie(&mut response, &c);
    }
    response
}

pub(super) fn append_cookie(response: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Browsers send `Origin` on cross-site writes; it must name this host.
pub(super) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
}
