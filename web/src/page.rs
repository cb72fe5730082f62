//! The pages of the web server: each is a struct of what it shows, rendered through its template
//! in `web/templates/` (askama: checked when the crate compiles, every value HTML-escaped), inside
//! the shared layout `base.html` — Japanese first, for phones as well as desks; the pages before
//! sign-in inside `public.html` (their language and its switch: `crate::language::Frame`), the
//! signed-in ones inside `dashboard/frame.html`. Every page's struct has a `title`: the layout's
//! `<title>` and heading. Here: sending a page, the escaper, and the small pieces several pages
//! share (`notice.html`, `parts.html`, `error_banner.html`).
//!
//! Nothing is marked `|safe`: no page takes HTML from anywhere but its templates.

use crate::language::{Frame, Lang};
use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mimamori_core::html::PAGE_HEADERS;

/// A page of ours with `status`: no caching (tokens in addresses, personal data on the dashboard),
/// no referrer, no indexing.
pub(crate) fn page(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, PAGE_HEADERS, axum::response::Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "A page could not be rendered.");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                PAGE_HEADERS,
                "ただいま表示できません",
            )
                .into_response()
        }
    }
}

/// The escaper of every template (`web/askama.toml`): the entities of
/// [`mimamori_core::html::escape`], in element content and quoted attribute values alike.
#[derive(Clone, Copy)]
pub(crate) struct Html;

impl askama::filters::Escaper for Html {
    fn write_escaped_str<W: std::fmt::Write>(&self, mut dest: W, text: &str) -> std::fmt::Result {
        let mut rest = text;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            dest.write_str(&rest[..at])?;
            dest.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        dest.write_str(rest)
    }
}

/// A page that says one thing: what went wrong or what to do next.
#[derive(Template)]
#[template(path = "notice.html")]
pub(crate) struct Notice<'a> {
    /// Its language (Japanese unless the page before sign-in it answers was in English).
    pub(crate) frame: Frame,
    pub(crate) title: &'a str,
    pub(crate) text: &'a str,
    /// A second paragraph.
    pub(crate) then: Option<&'a str>,
    /// A link back to where to go on.
    pub(crate) back: Option<Link>,
}

impl<'a> Notice<'a> {
    /// A page of `title` saying `text`.
    pub(crate) fn new(title: &'a str, text: &'a str) -> Self {
        Notice {
            frame: Lang::Ja.plain(),
            title,
            text,
            then: None,
            back: None,
        }
    }

    /// In `lang` (its words are the caller's, in that language).
    pub(crate) fn lang(self, lang: Lang) -> Self {
        Notice {
            frame: lang.plain(),
            ..self
        }
    }

    /// With a second paragraph.
    pub(crate) fn then(self, then: &'a str) -> Self {
        Notice {
            then: Some(then),
            ..self
        }
    }

    /// With a link back.
    pub(crate) fn back(self, href: String, label: &'static str) -> Self {
        Notice {
            back: Some(Link { href, label }),
            ..self
        }
    }
}

/// `page(status, Notice::new(title, text))`.
pub(crate) fn notice(status: StatusCode, title: &str, text: &str) -> Response {
    page(status, &Notice::new(title, text))
}

/// A notice in `lang`: its title and text picked from each language's words (`(ja, en)`).
pub(crate) fn notice_in(
    lang: Lang,
    status: StatusCode,
    (title_ja, title_en): (&str, &str),
    (text_ja, text_en): (&str, &str),
) -> Response {
    page(
        status,
        &Notice::new(lang.pick(title_ja, title_en), lang.pick(text_ja, text_en)).lang(lang),
    )
}

/// A link of ours.
pub(crate) struct Link {
    pub(crate) href: String,
    pub(crate) label: &'static str,
}

/// A line of a record (`parts.html`): what it is, and its value.
pub(crate) struct Row {
    pub(crate) label: String,
    pub(crate) value: String,
}

impl Row {
    pub(crate) fn new(label: impl Into<String>, value: impl Into<String>) -> Self {
        Row {
            label: label.into(),
            value: value.into(),
        }
    }
}

/// An `<option>` of a `<select>` (`parts.html`).
pub(crate) struct Choice {
    pub(crate) value: String,
    pub(crate) label: String,
    pub(crate) selected: bool,
}

impl Choice {
    pub(crate) fn new(value: impl Into<String>, label: impl Into<String>) -> Self {
        Choice {
            value: value.into(),
            label: label.into(),
            selected: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_once_as_everywhere_else() {
        let html = Notice::new("<b>&amp;</b>", "\"'<script>").render().unwrap();
        assert!(html.contains("<title>&lt;b&gt;&amp;amp;&lt;/b&gt; - 見守り mimamori</title>"));
        assert!(html.contains("<h1>&lt;b&gt;&amp;amp;&lt;/b&gt;</h1>"));
        assert!(html.contains("<p>&quot;&#39;&lt;script&gt;</p>"), "{html}");
        assert!(!html.contains("<script>"));
        let all = "<a href=\"x\">'&'</a> 見守り";
        let mut escaped = String::new();
        askama::filters::Escaper::write_escaped_str(&Html, &mut escaped, all).unwrap();
        assert_eq!(escaped, mimamori_core::html::escape(all));
    }
}
