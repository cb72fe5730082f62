//! Resolving an alert from a web form, in one place for the two pages that offer it — the
//! dashboard's alert page and the page behind a mail's link: the outcomes an alert's kind allows
//! (a device alert ends with 電池交換, 再接続, 機器交換 or その他; a person's with 無事確認,
//! 救急搬送, 誤報, 不在 or その他), the form read against them, and
//! [`Actions::resolve`](mimamori_alerts::actions::Actions::resolve), which checks the kind again
//! for every surface.

use crate::page::{Choice, notice};
use axum::http::StatusCode;
use axum::response::Response;
use mimamori_alerts::actions::{Actions, NOTE_MAX, Note, Via};
use mimamori_core::domain::{Actor, Alert, AlertKind, Outcome};
use mimamori_core::storage::{ResolveResult, StorageError};

/// The `<option>`s of an alert's outcome `<select>`: those its kind allows.
pub(crate) fn outcome_choices(kind: AlertKind) -> Vec<Choice> {
    kind.outcomes()
        .iter()
        .map(|o| Choice::new(o.as_str(), o.label_ja()))
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
    /// The page that says so, in Japanese; a storage failure as each surface answers (and logs)
    /// it: `storage`.
    pub(crate) fn page(self, storage: impl FnOnce(StorageError) -> Response) -> Response {
        match self {
            Refused::NoOutcome(kind) => notice(
                StatusCode::UNPROCESSABLE_ENTITY,
                "結果を選んでください",
                &format!(
                    "{}のいずれかを選んで、もう一度送信してください。",
                    kind.outcomes_ja()
                ),
            ),
            Refused::NotAllowed(kind) => notice(
                StatusCode::UNPROCESSABLE_ENTITY,
                "この結果はこのアラートには使えません",
                &format!(
                    "「{}」のアラートの結果は、{}のいずれかです。解決は記録されていません。選び直して、もう一度送信してください。",
                    kind.label_ja(),
                    kind.outcomes_ja()
                ),
            ),
            Refused::NoteTooLong => note_too_long(),
            Refused::Storage(e) => storage(e),
        }
    }
}

/// The page for a note over [`NOTE_MAX`] characters.
pub(crate) fn note_too_long() -> Response {
    notice(
        StatusCode::UNPROCESSABLE_ENTITY,
        "メモが長すぎます",
        &format!("メモは{NOTE_MAX}文字までです。"),
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
