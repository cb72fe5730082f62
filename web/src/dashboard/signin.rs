//! Signing in and out: a responder's token becomes a 12-hour session cookie (stored as its
//! SHA-256) with its own form token against forged posts; `next` sends them back where they were.

use super::*;

/// How long a sign-in lasts.
pub(super) const SESSION_HOURS: i64 = 12;

/// A signed-in responder.
pub(super) struct Session {
    pub(super) responder: Responder,
    pub(super) team: Team,
    pub(super) form_token: String,
    /// The SHA-256 of the cookie's token: the session's key in the store.
    pub(super) token_hash: String,
}

impl Session {
    pub(super) fn actor(&self) -> Actor {
        Actor::responder(&self.responder.id)
    }
}

pub(super) fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
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
        })),
        Err(e) => Err(server_error(e)),
    }
}

/// Only our own paths: never a redirect to another site.
pub(super) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/alerts".into(),
    }
}

#[derive(Deserialize)]
pub(super) struct NextQuery {
    next: Option<String>,
}

/// The sign-in form, with what went wrong.
#[derive(Template)]
#[template(path = "dashboard/signin.html")]
pub(super) struct SignIn<'a> {
    title: &'static str,
    /// Where to go once signed in (one of our paths: [`safe_next`]).
    next: &'a str,
    error: Option<&'a str>,
}

impl<'a> SignIn<'a> {
    pub(super) fn new(next: &'a str, error: Option<&'a str>) -> Self {
        SignIn {
            title: "ログイン",
            next,
            error,
        }
    }
}

pub(super) async fn login_page(Query(q): Query<NextQuery>) -> Response {
    page(
        StatusCode::OK,
        &SignIn::new(&safe_next(q.next.as_deref()), None),
    )
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    token: String,
    next: Option<String>,
}

pub(super) async fn login(
    State(state): State<DashboardState>,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    let responder = match state
        .store
        .responder_by_token(&token_hash(f.token.trim()))
        .await
    {
        Ok(Some((responder, _))) => responder,
        Ok(None) => {
            return page(
                StatusCode::UNAUTHORIZED,
                &SignIn::new(&next, Some("トークンが正しくないか、無効になっています。")),
            );
        }
        Err(e) => return server_error(e),
    };
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
    see_other_setting(&state, &next, &token, SESSION_HOURS * 3600)
}

/// A redirect to `to` that sets the session cookie to `value` for `max_age` seconds (0: removes
/// it), with the same attributes every time.
pub(super) fn see_other_setting(
    state: &DashboardState,
    to: &str,
    value: &str,
    max_age: i64,
) -> Response {
    let secure = if state.ctx.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie =
        format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
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
