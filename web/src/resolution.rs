//! Resolving an alert from a web form, in one place for the two pages that offer it — the
//! dashboard's alert page and the page behind a mail's link: the outcomes an alert's kind allows
//! (a device alert ends with 電池交換, 再接続, 機器交換 or その他; a person's with 無事確認,
//! 救急搬送, 誤報, 不在 or その他), the form read against them, and
//! [`Actions::resolve`](mimamori_alerts::actions::Actions::resolve), which checks the kind again
//! for every surface.

use crate::language::Lang;
use crate::page::{Choice, Notice, page};
use axum::http::StatusCode;
use axum::response::Response;
use mimamori_alerts::actions::{Actions, NOTE_MAX, Note, Via};
use mimamori_core::domain::{Actor, Alert, AlertKind, Outcome};
use mimamori_core::storage::{ResolveResult, StorageError};

/// The `<option>`s of an alert's outcome `<select>`: those its kind allows, in `lang`.
pub(crate) fn outcome_choices(kind: AlertKind, lang: Lang) -> Vec<Choice> {
    kind.outcomes()
        .iter()
        .map(|o| Choice::new(o.as_str(), lang.outcome(*o)))
        .collect()
}

/// Why a resolution was not made (nothing changed).
pub(crate) enum Refused {
    /// No outcome, or one we do not know.
    NoOutcome(AlertKind),
    /// An outcome of ours that this kind of alert does not end with.
    NotAllowed(AlertKind),
    NoteTooLong,
    Storage(StorageError),
}

impl Refused {
    /// The page that says so, in `lang`; a storage failure as each surface answers (and logs)
    /// it: `storage`.
    pub(crate) fn page(
        self,
        lang: Lang,
        storage: impl FnOnce(StorageError) -> Response,
    ) -> Response {
        let (title, text) = match self {
            Refused::NoOutcome(kind) => (
                lang.pick("結果を選んでください", "Choose an outcome"),
                lang.pick(
                    format!(
                        "{}のいずれかを選んで、もう一度送信してください。",
                        lang.outcomes(kind)
                    ),
                    format!("Choose one of {} and send again.", lang.outcomes(kind)),
                ),
            ),
            Refused::NotAllowed(kind) => (
                lang.pick(
                    "この結果はこのアラートには使えません",
                    "This outcome does not fit this alert",
                ),
                lang.pick(
                    format!(
                        "「{}」のアラートの結果は、{}のいずれかです。解決は記録されていません。選び直して、もう一度送信してください。",
                        lang.alert_kind(kind),
                        lang.outcomes(kind)
                    ),
                    format!(
                        "An alert of the kind “{}” ends with one of: {}. Nothing was recorded. Choose again and send again.",
                        lang.alert_kind(kind),
                        lang.outcomes(kind)
                    ),
                ),
            ),
            Refused::NoteTooLong => return note_too_long(lang),
            Refused::Storage(e) => return storage(e),
        };
        page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &Notice::new(title, &text).lang(lang),
        )
    }
}

/// The page for a note over [`NOTE_MAX`] characters, in `lang`.
pub(crate) fn note_too_long(lang: Lang) -> Response {
    let text = lang.pick(
        format!("メモは{NOTE_MAX}文字までです。"),
        format!("A note may have at most {NOTE_MAX} characters."),
    );
    page(
        StatusCode::UNPROCESSABLE_ENTITY,
        &Notice::new(lang.pick("メモが長すぎます", "The note is too long"), &text).lang(lang),
    )
}

/// A resolution read from a form: an outcome the alert's kind allows, and a note.
pub(crate) struct Resolution<'a> {
    outcome: Outcome,
    note: Option<Note<'a>>,
}

impl<'a> Resolution<'a> {
    /// The form's `outcome` (code or Japanese label) and `note` for an alert of `kind`; refused
    /// without touching anything, so that a surface can check before it spends something (the
    /// mail link's single use).
    pub(crate) fn read(
        kind: AlertKind,
        outcome: Option<&str>,
        note: Option<&'a str>,
    ) -> Result<Self, Refused> {
        let Some(outcome) = outcome.and_then(|o| o.parse::<Outcome>().ok()) else {
            return Err(Refused::NoOutcome(kind));
        };
        if !kind.allows(outcome) {
            return Err(Refused::NotAllowed(kind));
        }
        let note = Note::parse(note.unwrap_or("")).map_err(|_| Refused::NoteTooLong)?;
        Ok(Resolution { outcome, note })
    }

    /// Resolves `alert` as `by` through `actions`, the one resolve action of every surface.
    pub(crate) async fn apply(
        self,
        actions: &Actions,
        alert: &Alert,
        by: &Actor,
        via: Via,
    ) -> Result<ResolveResult, Refused> {
        match actions
            .resolve(alert, by, self.outcome, self.note, via)
            .await
        {
            Ok(ResolveResult::OutcomeNotAllowed(a)) => Err(Refused::NotAllowed(a.kind)),
            Ok(done) => Ok(done),
            Err(e) => Err(Refused::Storage(e)),
        }
    }
}
