//! The demo's sign-in on the status page (`mimamori up --demo` only): a 「デモにサインイン」
//! button that signs the demo's admin in with one click, for the person at the machine the demo
//! runs on. The token is on the demo's console; a new user should not have to copy it first.
//!
//! It hands out an admin's session without a secret, so it answers only a request that can come
//! from nobody but the machine itself ([`DemoSignIn::at_the_machine`]): the connection's peer is
//! loopback; the request carries no proxy header and the server is not set up behind a proxy
//! (`http.client_ip_header`: a proxy on the same machine makes every peer loopback); and `Host`
//! names the machine — `localhost`, `127.x.x.x` or `[::1]` — so that another site's page whose
//! name was pointed at 127.0.0.1 (DNS rebinding) is refused. Anything else sees no button, and
//! the route answers 404 as a path that does not exist. The form posts nothing secret — only the
//! sign-in form's pair of tokens against forged posts (`dashboard::signin`) — and the server signs
//! in with the token it holds; the token never appears in a page.

use crate::server::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// Where the status page's button posts.
pub(crate) const PATH: &str = "/demo/signin";

/// Headers a proxy adds: with any of them, the request did not come straight from the machine.
const PROXY_HEADERS: [&str; 5] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-real-ip",
    "via",
];

/// The demo's one-click sign-in, while `up --demo` runs.
#[derive(Clone)]
pub(crate) struct DemoSignIn {
    /// The demo admin's access token, as the console prints it: the server signs in with it.
    token: String,
    /// The server reads clients' addresses from a header (`http.client_ip_header`): it runs
    /// behind a proxy, and the connection's peer says nothing about who is asking.
    behind_proxy: bool,
}

impl DemoSignIn {
    /// The demo's sign-in with the demo admin's `token`, on a server configured with `http`.
    pub(crate) fn new(token: String, http: &mimamori_core::config::HttpConfig) -> Self {
        DemoSignIn {
            token,
            behind_proxy: !http.client_ip_header.trim().is_empty(),
        }
    }

    /// Whether the request (its connection's info in `extensions`) comes from a browser on the
    /// machine itself, straight, to a name of the machine.
    pub(crate) fn at_the_machine(
        &self,
        extensions: &Extensions,
        headers: &HeaderMap,
        uri: &Uri,
    ) -> bool {
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_canonical());
        !self.behind_proxy
            && peer.is_some_and(|ip| ip.is_loopback())
            && PROXY_HEADERS.iter().all(|h| !headers.contains_key(*h))
            && headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .is_some_and(names_the_machine)
            && uri
                .authority()
                .is_none_or(|a| names_the_machine(a.as_str()))
    }
}

/// Whether `host` (a `Host` header: a name and perhaps a port) is `localhost`, `127.x.x.x` or
/// `[::1]`.
fn names_the_machine(host: &str) -> bool {
    let (name_ok, port) = match host.strip_prefix('[') {
        Some(v6) => {
            let Some((addr, port)) = v6.split_once(']') else {
                return false;
            };
            (
                addr.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback()),
                port,
            )
        }
        None => {
            let (name, port) = host.split_at(host.find(':').unwrap_or(host.len()));
            (
                name.eq_ignore_ascii_case("localhost")
                    || name.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback()),
                port,
            )
        }
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    name_ok && port_ok
}

/// `POST /demo/signin`: the demo's admin signed in, on to the alert list — for the machine
/// itself, in demo mode; 404 for anything else (any other method too: it does nothing).
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    extensions: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(demo) = state
        .demo
        .as_ref()
        .filter(|d| method == Method::POST && d.at_the_machine(&extensions, &headers, &uri))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let signin_token = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "signin_token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    tracing::info!("Demo sign-in from the machine itself.");
    crate::dashboard::sign_in_with_held_token(
        &state.dashboard,
        &headers,
        &signin_token,
        &demo.token,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use mimamori_core::config::HttpConfig;

    fn request(peer: &str, host: Option<&str>, extra: &[(&str, &str)]) -> (Extensions, HeaderMap) {
        let mut extensions = Extensions::new();
        extensions.insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        let mut headers = HeaderMap::new();
        if let Some(host) = host {
            headers.insert(header::HOST, host.parse().unwrap());
        }
        for (name, value) in extra {
            headers.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        (extensions, headers)
    }

    fn demo(client_ip_header: &str) -> DemoSignIn {
        let http = HttpConfig {
            client_ip_header: client_ip_header.into(),
            ..HttpConfig::default()
        };
        DemoSignIn::new("mmr_x".into(), &http)
    }

    fn allowed(demo: &DemoSignIn, peer: &str, host: Option<&str>, extra: &[(&str, &str)]) -> bool {
        let (extensions, headers) = request(peer, host, extra);
        demo.at_the_machine(&extensions, &headers, &Uri::from_static("/demo/signin"))
    }

    #[test]
    fn only_the_machine_itself_by_its_own_name_straight_and_without_a_proxy() {
        let d = demo("");
        for host in [
            "localhost",
            "localhost:8080",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.0.0.1:8080",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(allowed(&d, "127.0.0.1:50000", Some(host), &[]), "{host}");
        }
        assert!(allowed(&d, "[::1]:50000", Some("[::1]:8080"), &[]));
        assert!(allowed(
            &d,
            "[::ffff:127.0.0.1]:50000",
            Some("localhost"),
            &[]
        ));
        // Another machine, even naming ours.
        for peer in [
            "192.168.1.20:50000",
            "10.0.0.1:1",
            "[fe80::1]:1",
            "[::ffff:8.8.8.8]:1",
        ] {
            assert!(!allowed(&d, peer, Some("localhost:8080"), &[]), "{peer}");
        }
        // Another name for 127.0.0.1 (DNS rebinding), or no name at all.
        for host in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "localhost.",
            "127.0.0.1.nip.io",
            "127.1",
            "0.0.0.0:8080",
            "192.168.1.20:8080",
            "[::]:8080",
            "[::1",
            "[::1]x",
            "localhost:",
            "localhost:80:80",
            "localhost:8o",
            "",
        ] {
            assert!(!allowed(&d, "127.0.0.1:50000", Some(host), &[]), "{host:?}");
        }
        assert!(!allowed(&d, "127.0.0.1:50000", None, &[]));
        // Through a proxy on the machine.
        for proxy in [
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
            ("x-real-ip", "203.0.113.9"),
            ("x-forwarded-host", "mimamori.example"),
            ("via", "1.1 proxy"),
        ] {
            assert!(
                !allowed(&d, "127.0.0.1:50000", Some("localhost"), &[proxy]),
                "{proxy:?}"
            );
        }
        assert!(!allowed(
            &demo("X-Forwarded-For"),
            "127.0.0.1:50000",
            Some("localhost"),
            &[]
        ));
        // An absolute request target naming another site.
        let (extensions, headers) = request("127.0.0.1:50000", Some("localhost"), &[]);
        let uri = Uri::from_static("http://evil.example/demo/signin");
        assert!(!d.at_the_machine(&extensions, &headers, &uri));
        // No connection info: refused.
        let (_, headers) = request("127.0.0.1:50000", Some("localhost"), &[]);
        assert!(!d.at_the_machine(&Extensions::new(), &headers, &Uri::from_static("/")));
    }
}
