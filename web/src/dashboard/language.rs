//! The English switch: the signed-in pages' chrome — the menu, sign-out, the skip link, the
//! page's `lang` — in Japanese (first, the default) or English, chosen by a link
//! (`/lang?to=en&next=…`) that sets a cookie ([`LANG_COOKIE`], a year). The templates keep one
//! source: they read the words from [`Chrome`], one table per language. What the pages say about
//! alerts and residents stays Japanese, as the people who use them write it.

use super::signin::{cookie, safe_next, set_cookie};
use super::{DashboardState, see_other};
use crate::page::notice;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// The cookie that holds the chosen language (`en`; none or anything else: Japanese).
pub const LANG_COOKIE: &str = "mimamori_lang";

/// A language of the page chrome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Lang {
    #[default]
    Ja,
    En,
}

impl Lang {
    /// The language the browser chose (its cookie).
    pub(super) fn of(headers: &HeaderMap) -> Lang {
        match cookie(headers, LANG_COOKIE).as_deref() {
            Some("en") => Lang::En,
            _ => Lang::Ja,
        }
    }

    pub(super) fn chrome(self) -> &'static Chrome {
        match self {
            Lang::Ja => &JA,
            Lang::En => &EN,
        }
    }
}

/// The words of the page chrome in one language.
pub(crate) struct Chrome {
    /// The page's `lang`.
    pub(crate) code: &'static str,
    pub(crate) skip: &'static str,
    pub(crate) menu: &'static str,
    pub(crate) alerts: &'static str,
    pub(crate) history: &'static str,
    pub(crate) overview: &'static str,
    pub(crate) residents: &'static str,
    pub(crate) figures: &'static str,
    pub(crate) admin: &'static str,
    pub(crate) sign_out: &'static str,
    /// The switch to the other language: its code and its name, in that language.
    pub(crate) other_code: &'static str,
    pub(crate) other_name: &'static str,
}

const JA: Chrome = Chrome {
    code: "ja",
    skip: "本文へ移動",
    menu: "メニュー",
    alerts: "アラート",
    history: "履歴",
    overview: "地区の状況",
    residents: "見守り対象者",
    figures: "市の集計",
    admin: "管理",
    sign_out: "ログアウト",
    other_code: "en",
    other_name: "English",
};

const EN: Chrome = Chrome {
    code: "en",
    skip: "Skip to content",
    menu: "Menu",
    alerts: "Alerts",
    history: "History",
    overview: "District",
    residents: "Residents",
    figures: "City figures",
    admin: "Admin",
    sign_out: "Sign out",
    other_code: "ja",
    other_name: "日本語",
};

/// The menu entry's page (`Me::here`): where the switch comes back to.
pub(super) fn path_of(here: &str) -> &'static str {
    match here {
        "history" => "/alerts?state=resolved",
        "overview" => "/overview",
        "residents" => "/residents",
        "figures" => "/figures",
        "admin" => "/admin/devices",
        _ => "/alerts",
    }
}

#[derive(Deserialize)]
pub(super) struct SwitchQuery {
    #[serde(default)]
    to: String,
    next: Option<String>,
}

/// `GET /lang?to=en|ja&next=PATH`: sets the language and goes back to `next` (a path of ours;
/// else `/alerts`). A link, so it works without JavaScript; it changes only this browser's
/// chrome, nothing stored.
pub(super) async fn switch(
    State(state): State<DashboardState>,
    Query(q): Query<SwitchQuery>,
) -> Response {
    let cookie = match q.to.as_str() {
        "en" => set_cookie(&state, LANG_COOKIE, "en", "Lax", 365 * 24 * 3600),
        "ja" => set_cookie(&state, LANG_COOKIE, "", "Lax", 0),
        _ => {
            return notice(
                StatusCode::BAD_REQUEST,
                "言語を選べません / unknown language",
                "日本語（ja）か English（en）を選んでください。 / Choose ja or en.",
            );
        }
    };
    let mut r = see_other(&safe_next(q.next.as_deref()));
    if let Ok(v) = cookie.parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r.into_response()
}
