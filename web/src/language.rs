//! The English switch: every page in Japanese (first, the default) or English, chosen by a link
//! (`/lang?to=en&next=…`) that sets a cookie ([`LANG_COOKIE`], a year). [`Lang::of`] is the one
//! place that reads the choice. The signed-in pages switch their chrome — the menu, sign-out, the
//! skip link, the page's `lang` ([`Chrome`]) — and what they say about alerts and residents stays
//! Japanese, as the people who use them write it. The pages before sign-in — the status page, the
//! sign-in form, the partners' report form, the pages behind the mail links — are all in the
//! chosen language, their refusals too, in the frame [`Frame`] (the chrome and the switch). The
//! templates keep one source: each page reads its words from a table per language, beside its
//! handler; here are the ones several pages share, and the labels of the vocabularies the pages
//! before sign-in show.

use crate::dashboard::{DashboardState, safe_next, see_other, set_cookie};
use crate::page::notice;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mimamori_core::domain::{AlertKind, Observation, Outcome};
use serde::Deserialize;

/// The cookie that holds the chosen language (`en`; none or anything else: Japanese).
pub const LANG_COOKIE: &str = "mimamori_lang";

/// A language of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Lang {
    #[default]
    Ja,
    En,
}

impl Lang {
    /// The language the browser chose (its cookie).
    pub(crate) fn of(headers: &HeaderMap) -> Lang {
        match crate::dashboard::cookie(headers, LANG_COOKIE).as_deref() {
            Some("en") => Lang::En,
            _ => Lang::Ja,
        }
    }

    pub(crate) fn chrome(self) -> &'static Chrome {
        self.pick(&JA, &EN)
    }

    /// `ja` or `en`, as this language is.
    pub(crate) fn pick<T>(self, ja: T, en: T) -> T {
        match self {
            Lang::Ja => ja,
            Lang::En => en,
        }
    }

    /// This language's half of a message written `日本語 / English` (the whole of one that is not).
    pub(crate) fn half(self, message: &str) -> &str {
        match message.split_once(" / ") {
            Some((ja, en)) => self.pick(ja, en),
            None => message,
        }
    }

    /// The link that switches to the other language and comes back to `here` (a path of ours).
    pub(crate) fn switch(self, here: &str) -> String {
        format!(
            "/lang?to={}&next={}",
            self.chrome().other_code,
            url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>()
        )
    }

    /// The frame of a page before sign-in at `here`: this language, and the switch back to it.
    pub(crate) fn frame(self, here: &str) -> Frame {
        Frame {
            chrome: self.chrome(),
            switch: Some(self.switch(here)),
        }
    }

    /// The frame of a page without a switch of its own (a refusal, an error).
    pub(crate) fn plain(self) -> Frame {
        Frame {
            chrome: self.chrome(),
            switch: None,
        }
    }

    /// What a partner noticed, as the report form's checkboxes say it.
    pub(crate) fn observation(self, o: Observation) -> &'static str {
        let en = match o {
            Observation::Mail => "Mail is piling up",
            Observation::Newspapers => "Newspapers are piling up",
            Observation::Lights => "Lights on day and night",
            Observation::Laundry => "Laundry left out",
            Observation::NotSeen => "Not seen lately",
            Observation::NoAnswer => "No answer at the door",
            Observation::Smell => "A strange smell",
            Observation::Confusion => "Seems confused or lost",
            Observation::Fraud => "Suspicious visitors, fraud",
            Observation::Other => "Other",
        };
        self.pick(o.label_ja(), en)
    }

    /// How an alert ended.
    pub(crate) fn outcome(self, o: Outcome) -> &'static str {
        let en = match o {
            Outcome::Safe => "Confirmed safe",
            Outcome::Transported => "Taken to hospital",
            Outcome::FalseAlarm => "False alarm",
            Outcome::Absent => "Not at home",
            Outcome::Other => "Other",
            Outcome::BatteryReplaced => "Battery replaced",
            Outcome::Reconnected => "Reconnected",
            Outcome::DeviceReplaced => "Device replaced",
        };
        self.pick(o.label_ja(), en)
    }

    /// The outcomes an alert of `kind` ends with, in words: 「無事確認・救急搬送・…」.
    pub(crate) fn outcomes(self, kind: AlertKind) -> String {
        kind.outcomes()
            .iter()
            .map(|o| self.outcome(*o))
            .collect::<Vec<_>>()
            .join(self.pick("・", ", "))
    }

    /// Why an alert was raised.
    pub(crate) fn alert_kind(self, kind: AlertKind) -> &'static str {
        let en = match kind {
            AlertKind::Emergency => "Emergency call",
            AlertKind::Inactivity => "Wellbeing: no activity",
            AlertKind::DailyWindow => "Wellbeing: no activity this morning",
            AlertKind::CheckinMissed => "Wellbeing: no check-in",
            AlertKind::Unmonitored => "Unmonitored: sensors offline",
            AlertKind::DeviceOffline => "Device: offline",
            AlertKind::BatteryLow => "Device: battery low",
            AlertKind::Concern => "A partner's concern",
            AlertKind::Compound => "Compound case",
            AlertKind::DeliveryFailed => "Notification failed",
        };
        self.pick(kind.label_ja(), en)
    }
}

/// The frame of a page before sign-in (`public.html`): its language, and the switch to the
/// other one.
pub(crate) struct Frame {
    pub(crate) chrome: &'static Chrome,
    /// The switch link, back to this page (none: a page that says one thing, e.g. a refusal).
    pub(crate) switch: Option<String>,
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
pub(crate) fn path_of(here: &str) -> &'static str {
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
pub(crate) struct SwitchQuery {
    #[serde(default)]
    to: String,
    next: Option<String>,
}

/// `GET /lang?to=en|ja&next=PATH`: sets the language and goes back to `next` — the status page
/// `/` or another path of ours ([`safe_next`]; else `/alerts`), never another site. A link, so
/// it works without JavaScript; it changes only this browser's pages, nothing stored.
pub(crate) async fn switch(
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
    let next = match q.next.as_deref() {
        Some("/") => "/".to_string(),
        next => safe_next(next),
    };
    let mut r = see_other(&next);
    if let Ok(v) = cookie.parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r.into_response()
}
