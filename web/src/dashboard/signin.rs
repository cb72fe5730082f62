//! Signing in and out: a responder's token becomes a 12-hour session cookie (stored as its
//! SHA-256) with its own form token against forged posts; `next` sends them back where they were,
//! if it is a path of ours ([`safe_next`]).
//!
//! The sign-in form has a token of its own, before any session exists: the page sets a random
//! pre-session cookie ([`SIGNIN_COOKIE`], `SameSite=Strict`, for [`SIGNIN_MINUTES`]) and puts the
//! same value in a hidden field. A post without the matching pair — from another site, which can
//! neither read the field nor send the cookie — is refused before the access token is looked at,
//! so that nobody can sign a responder's browser in to someone else's session. The demo's sign-in
//! button on the status page (`crate::demo`) carries the same pair.

use super::*;
use crate::language::{Frame, Lang};
use crate::page::notice_in;
use axum::response::AppendHeaders;

/// How long a sign-in lasts.
pub(super) const SESSION_HOURS: i64 = 12;

/// The sign-in form's pre-session cookie: the same random value as the form's `signin_token`.
pub const SIGNIN_COOKIE: &str = "mimamori_signin";

/// How long a sign-in page may stay open before it must be reopened.
pub(super) const SIGNIN_MINUTES: i64 = 30;

/// The length of the sign-in form's token (about 186 bits).
const SIGNIN_TOKEN_LEN: usize = 32;

/// A signed-in responder.
pub(super) struct Session {
    pub(super) responder: Responder,
    pub(super) team: Team,
    pub(super) form_token: String,
    /// The SHA-256 of the cookie's token: the session's key in the store.
    pub(super) token_hash: String,
    /// The page chrome's language, as this browser chose it.
    pub(super) lang: crate::language::Lang,
}

impl Session {
    pub(super) fn actor(&self) -> Actor {
        Actor::responder(&self.responder.id)
    }

    /// The coordinator's rights — the city's figures — come from the role (`coordinator` or
    /// `admin`), not from the team: a responder of a city-wide team without it sees every
    /// district's alerts, but not these.
    pub(super) fn coordinates(&self) -> bool {
        matches!(
            self.responder.role,
            mimamori_core::domain::Role::Coordinator | mimamori_core::domain::Role::Admin
        )
    }

    /// Triage — the queue of alerts no address could route, and routing them to a district —
    /// needs the coordinator's role and a team whose scope holds alerts without a district (a
    /// city-wide one).
    pub(super) fn triages(&self) -> bool {
        self.coordinates() && self.team.district.is_none()
    }
}

/// The value of the cookie `name`, if the request sends it.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_string())
}

pub(super) fn cookie_token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE)
}

/// A `Set-Cookie` value for one of our cookies, with the same attributes every time: `HttpOnly`,
/// `Path=/`, `Secure` when `http.public_url` is `https` (0 seconds: removes it).
pub(crate) fn set_cookie(
    state: &DashboardState,
    name: &str,
    value: &str,
    same_site: &str,
    max_age: i64,
) -> String {
    let secure = if state.ctx.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}")
}

pub(super) async fn session(
    state: &DashboardState,
    headers: &HeaderMap,
) -> Result<Option<Session>, Response> {
    let Some(token) = cookie_token(headers) else {
        return Ok(None);
    };
    let hash = token_hash(&token);
    match state.store.web_session(&hash, state.clock.now()).await {
        Ok(found) => Ok(found.map(|(responder, team, form_token)| Session {
            responder,
            team,
            form_token,
            token_hash: hash,
            lang: crate::language::Lang::of(headers),
        })),
        Err(e) => Err(server_error(e)),
    }
}

/// The signed-in session, or the response that sends the browser to sign in and come back to
/// `next` (or the error page when the store cannot say).
pub(super) async fn signed_in(
    state: &DashboardState,
    headers: &HeaderMap,
    next: &str,
) -> Result<Session, Response> {
    match session(state, headers).await? {
        Some(s) => Ok(s),
        None => Err(see_other(&format!("/login?next={next}"))),
    }
}

/// Where to go once signed in: `next` if it is a path of ours ([`is_own_path`]), else `/alerts`.
/// Never a redirect to another site.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_own_path(n) => n.into(),
        _ => "/alerts".into(),
    }
}

/// The longest `next` we send people back to.
const MAX_NEXT: usize = 2048;

/// Whether `next` can only mean a page of this site, however a browser reads it: printable
/// ASCII (a browser drops tabs and newlines from a URL, so `/\t/x` would become `//x`), and — as
/// it is and after each round of percent-decoding, since a browser or a proxy may decode once
/// more — a path starting with exactly one `/` and then a segment (not `//`, `/\`, `/./` or
/// `/../`), with no backslash (browsers read it as `/`), no empty or dot segment, and no control
/// character or whitespace anywhere. A scheme (`https:`, `javascript:`) cannot start with `/`.
fn is_own_path(next: &str) -> bool {
    if next.len() > MAX_NEXT || !next.bytes().all(|b| b.is_ascii_graphic()) {
        return false;
    }
    let mut layer = next.to_string();
    // `%25` decodes to `%`: a few rounds, then anything still encoded is refused.
    for _ in 0..4 {
        if !plain_path(&layer) {
            return false;
        }
        match percent_decoded(&layer) {
            Some(decoded) if decoded == layer => return true,
            Some(decoded) => layer = decoded,
            None => return false,
        }
    }
    false
}

/// One reading of `next`: `/segment/…` (optionally `?query` or `#fragment`), where no segment
/// is empty (but the last), `.` or `..`, and nothing is a control character, whitespace or a
/// backslash.
fn plain_path(next: &str) -> bool {
    if next
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return false;
    }
    let path = next.split(['?', '#']).next().unwrap_or_default();
    let Some(segments) = path.strip_prefix('/') else {
        return false;
    };
    let segments: Vec<&str> = segments.split('/').collect();
    let last = segments.len() - 1;
    segments.iter().enumerate().all(|(i, segment)| {
        !matches!(*segment, "." | "..") && (!segment.is_empty() || (i == last && i > 0))
    })
}

/// `text` with its `%XX` escapes decoded, as a browser decodes a URL's path (a `%` not followed
/// by two hex digits stays); `None` when the bytes are not UTF-8.
fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let hex = |b: &u8| (*b as char).to_digit(16);
    while i < bytes.len() {
        let (high, low) = (
            bytes.get(i + 1).and_then(hex),
            bytes.get(i + 2).and_then(hex),
        );
        match (bytes[i], high, low) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[derive(Deserialize)]
pub(super) struct NextQuery {
    next: Option<String>,
}

/// The sign-in form, with what went wrong, in the browser's language.
#[derive(Template)]
#[template(path = "dashboard/signin.html")]
pub(super) struct SignIn<'a> {
    frame: Frame,
    title: &'static str,
    w: &'static SignInWords,
    /// Where to go once signed in (one of our paths: [`safe_next`]).
    next: &'a str,
    /// The value of the pre-session cookie [`SIGNIN_COOKIE`], sent back with the form.
    signin_token: &'a str,
    error: Option<&'a str>,
}

impl<'a> SignIn<'a> {
    fn new(lang: Lang, next: &'a str, signin_token: &'a str, error: Option<&'a str>) -> Self {
        let w = lang.pick(&SIGNIN_JA, &SIGNIN_EN);
        let here: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        SignIn {
            frame: lang.frame(&format!("/login?next={here}")),
            title: w.title,
            w,
            next,
            signin_token,
            error,
        }
    }
}

/// The sign-in form's words in one language.
pub(super) struct SignInWords {
    title: &'static str,
    token: &'static str,
    button: &'static str,
    hint: &'static str,
}

const SIGNIN_JA: SignInWords = SignInWords {
    title: "ログイン",
    token: "アクセストークン",
    button: "ログイン",
    hint: "トークンは管理者が発行します（mimamori admin responder token）。",
};

const SIGNIN_EN: SignInWords = SignInWords {
    title: "Sign in",
    token: "Access token",
    button: "Sign in",
    hint: "Your administrator issues the token (mimamori admin responder token).",
};

/// The pre-session cookie's value, if it is one we could have set.
fn signin_cookie(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SIGNIN_COOKIE)
        .filter(|v| v.len() == SIGNIN_TOKEN_LEN && v.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The sign-in form token for a page with a form that signs in, and the `Set-Cookie` value of
/// the pre-session cookie it pairs with. Another tab's sign-in page keeps working: the value its
/// cookie holds is kept (and its minutes start again).
pub(crate) fn signin_pair(state: &DashboardState, headers: &HeaderMap) -> (String, String) {
    let token = signin_cookie(headers).unwrap_or_else(|| generate(SIGNIN_TOKEN_LEN));
    let cookie = set_cookie(state, SIGNIN_COOKIE, &token, "Strict", SIGNIN_MINUTES * 60);
    (token, cookie)
}

/// The pre-session cookie's value, when the form posted the same (`posted`): the post came from
/// our page, in this browser, within [`SIGNIN_MINUTES`].
fn paired(headers: &HeaderMap, posted: &str) -> Option<String> {
    signin_cookie(headers).filter(|cookie| {
        mimamori_core::secret::constant_time_eq(cookie.as_bytes(), posted.as_bytes())
    })
}

pub(super) async fn login_page(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let (token, cookie) = signin_pair(&state, &headers);
    let next = safe_next(q.next.as_deref());
    let form = page(
        StatusCode::OK,
        &SignIn::new(Lang::of(&headers), &next, &token, None),
    );
    ([(header::SET_COOKIE, cookie)], form).into_response()
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    token: String,
    next: Option<String>,
    /// Must equal the pre-session cookie.
    #[serde(default)]
    signin_token: String,
}

/// The page a refused sign-in is started again from.
enum Reopen<'a> {
    /// The sign-in form, on to `next`.
    SignIn { next: &'a str },
    /// The status page (the demo's button).
    Status,
}

/// A sign-in post without its page's pair of tokens: not from our page, or from a page open too
/// long. It says to reopen that page, and counts as no wrong token.
fn signin_refused(lang: Lang, reopen: Reopen) -> Response {
    let (name, href, label) = match reopen {
        Reopen::SignIn { next } => {
            let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
            (
                lang.pick("ログイン画面", "sign-in page"),
                format!("/login?next={next}"),
                lang.pick("ログイン画面を開く", "Open the sign-in page"),
            )
        }
        Reopen::Status => (
            lang.pick("トップページ", "home page"),
            "/".to_string(),
            lang.pick("トップページを開く", "Open the home page"),
        ),
    };
    let text = match lang {
        Lang::Ja => format!(
            "{name}が古くなっているか、ほかのサイトからの送信です。{name}を開き直して、もう一度お試しください。"
        ),
        Lang::En => format!(
            "The {name} is out of date, or the form was sent from another site. Open the {name} again and retry."
        ),
    };
    page(
        StatusCode::FORBIDDEN,
        &Notice::new(
            lang.pick("ログインを受け付けられません", "Sign-in refused"),
            &text,
        )
        .lang(lang)
        .back(href, label),
    )
}

pub(super) async fn login(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    let lang = Lang::of(&headers);
    let Some(signin_token) = paired(&headers, &f.signin_token) else {
        tracing::warn!("Sign-in refused: the form's token does not match the sign-in cookie.");
        return signin_refused(lang, Reopen::SignIn { next: &next });
    };
    match responder_of(&state, &f.token).await {
        Ok(Some(responder)) => start_session(&state, &responder, &next).await,
        Ok(None) => {
            // The form again, with the same pair: its cookie is still there.
            let error = lang.pick(
                "トークンが正しくないか、無効になっています。",
                "The token is wrong or no longer valid.",
            );
            page(
                StatusCode::UNAUTHORIZED,
                &SignIn::new(lang, &next, &signin_token, Some(error)),
            )
        }
        Err(e) => server_error(e),
    }
}

/// The active responder whose access token is `token`.
async fn responder_of(
    state: &DashboardState,
    token: &str,
) -> Result<Option<Responder>, StorageError> {
    Ok(state
        .store
        .responder_by_token(&token_hash(token.trim()))
        .await?
        .map(|(responder, _)| responder))
}

/// Signs `responder` in — a new session, the pre-session cookie removed — and sends the browser
/// on to `next`.
async fn start_session(state: &DashboardState, responder: &Responder, next: &str) -> Response {
    let token = generate(32);
    let now = state.clock.now();
    if let Err(e) = state
        .store
        .create_web_session(
            &token_hash(&token),
            &responder.id,
            &generate(24),
            now,
            now + chrono::Duration::hours(SESSION_HOURS),
        )
        .await
    {
        return server_error(e);
    }
    tracing::info!(responder_id = %responder.id, "Responder signed in to the dashboard.");
    // The sign-in form's cookie has served: removed.
    let used = set_cookie(state, SIGNIN_COOKIE, "", "Strict", 0);
    (
        AppendHeaders([(header::SET_COOKIE, used)]),
        see_other_setting(state, next, &token, SESSION_HOURS * 3600),
    )
        .into_response()
}

/// The demo's one-click sign-in (`crate::demo`): the form's `signin_token` paired as on the
/// sign-in form, then a session for the responder of `token` — the token the server holds, never
/// one the browser sent — and on to the alert list. The caller has checked that the request
/// comes from the machine itself.
pub(crate) async fn sign_in_with_held_token(
    state: &DashboardState,
    headers: &HeaderMap,
    signin_token: &str,
    token: &str,
) -> Response {
    let lang = Lang::of(headers);
    if paired(headers, signin_token).is_none() {
        tracing::warn!("Demo sign-in refused: the form's token does not match the sign-in cookie.");
        return signin_refused(lang, Reopen::Status);
    }
    match responder_of(state, token).await {
        Ok(Some(responder)) => start_session(state, &responder, "/alerts").await,
        Ok(None) => notice_in(
            lang,
            StatusCode::FORBIDDEN,
            (
                "デモのサインインは使えません",
                "The demo sign-in is not available",
            ),
            (
                "デモの管理者のトークンが無効になっています。mimamori up --demo を起動し直してください。",
                "The demo admin's token is no longer valid. Start mimamori up --demo again.",
            ),
        ),
        Err(e) => server_error(e),
    }
}

/// A redirect to `to` that sets the session cookie to `value` for `max_age` seconds (0: removes
/// it), with the same attributes every time.
pub(super) fn see_other_setting(
    state: &DashboardState,
    to: &str,
    value: &str,
    max_age: i64,
) -> Response {
    let cookie = set_cookie(state, COOKIE, value, "Lax", max_age);
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, to.to_string()),
            (header::SET_COOKIE, cookie),
        ],
    )
        .into_response()
}

pub(super) async fn logout(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Form(f): Form<ActionForm>,
) -> Response {
    if let Ok(Some(s)) = session(&state, &headers).await
        && s.form_token == f.form_token
        && let Err(e) = state.store.end_web_session(&s.token_hash).await
    {
        return server_error(e);
    }
    see_other_setting(&state, "/login", "", 0)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_leads_only_to_our_own_pages() {
        for ours in [
            "/alerts",
            "/alerts/12",
            "/residents/r-1?x=1",
            "/residents/r-1/",
            "/residents?district=kugenuma&page=2",
            "/alerts/12#timeline",
            "/residents?q=%E8%97%A4%E6%B2%A2",
        ] {
            assert_eq!(safe_next(Some(ours)), ours, "{ours:?} is ours");
        }
        for bypass in [
            "",
            "/",
            "//x",
            "//evil.example/",
            "///x",
            "/\\x",
            "\\\\x",
            "/%09/x",
            "/\t/x",
            "/\t/evil.example",
            "/\n/x",
            "/\r\n/x",
            "/a\tb",
            "/alerts\n",
            " /alerts",
            "/%2F%2Fx",
            "/%2f/x",
            "/%252F%252Fx",
            "/%5Cx",
            "/%5cx",
            "/%255Cx",
            "/%0A/x",
            "/%00",
            "/%E3%80%80x",
            "/%FF",
            "https://x",
            "http:/x",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "x",
            "alerts",
            "/.//x",
            "/./x",
            "/../x",
            "/a/../../x",
            "/%2E%2E/x",
            "/a//x",
            "/\u{3000}x",
            "/ａｌｅｒｔｓ",
        ] {
            assert_eq!(safe_next(Some(bypass)), "/alerts", "{bypass:?} is refused");
        }
        assert_eq!(safe_next(None), "/alerts");
        let long = format!("/alerts?{}", "x".repeat(4096));
        assert_eq!(safe_next(Some(&long)), "/alerts");
    }
}
