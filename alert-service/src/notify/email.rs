//! Email: responders' (and consenting contacts') mailboxes as a channel of the outbox.
//!
//! - To a responder: the alert's Japanese message (text and HTML parts) and, while the alert is
//!   open, an acknowledgement link ([`super::link`]) to a confirmation page whose button
//!   acknowledges — a link preview or a mail scanner fetching the link changes nothing.
//! - To a resident's contact: a short notice that the care team has been told and is on it, with
//!   the team's name to ask; no dashboard link, no link to act.
//! - Transports: SMTP (STARTTLS, implicit TLS or plain, by configuration; an extra CA for an
//!   internal server) or one `.eml` file per message for the demo.
//! - Failures: a refused mailbox (5xx) is permanent (the outbox flags it to the operators); a
//!   server that is down, slow or answering 4xx is retried with backoff, so nothing is dropped.
//!   Error texts carry the SMTP code, never the server's words (which may quote the address).

use super::link::LinkSigner;
use super::message::{self, Context};
use super::{SendError, Sender, Told, retry_storage};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use mimamori_core::clock::Clock;
use mimamori_core::config::{EmailConfig, EmailTransport, SmtpSecurity};
use mimamori_core::domain::{Alert, AlertState, Notification};
use mimamori_core::storage::{StorageError, Store};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The path of the acknowledgement pages: `{public_url}/ack/{token}`.
pub const ACK_PATH: &str = "/ack";

/// Why the email channel cannot start.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("notify.email.from: {0:?} is not a sender address")]
    From(String),
    #[error("notify.email.ca_cert: cannot read {path}: {error}")]
    CaFile {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("notify.email.ca_cert: {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", .0.display())]
    CaPem(PathBuf),
    #[error("notify.email: TLS set-up failed: {0}")]
    Tls(lettre::transport::smtp::Error),
    #[error("notify.email.file_dir: cannot create {path}: {error}")]
    Dir {
        path: PathBuf,
        error: std::io::Error,
    },
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
}

/// Sends alert emails.
pub struct EmailSender {
    transport: Transport,
    from: Mailbox,
    ctx: Context,
    store: Store,
    signer: LinkSigner,
    clock: Arc<dyn Clock>,
    link_valid: chrono::Duration,
}

impl EmailSender {
    /// The channel of `[notify.email]`; `data_dir` holds the file transport's folder by default;
    /// `signer` makes the acknowledgement links (the same key as the pages that check them).
    pub fn new(
        config: &EmailConfig,
        data_dir: &std::path::Path,
        store: Store,
        ctx: Context,
        signer: LinkSigner,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, EmailError> {
        super::install_crypto_provider();
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| EmailError::From(config.from.clone()))?;
        let transport = match config.transport {
            EmailTransport::File => {
                let dir = config.mail_dir(data_dir);
                std::fs::create_dir_all(&dir).map_err(|error| EmailError::Dir {
                    path: dir.clone(),
                    error,
                })?;
                Transport::File(AsyncFileTransport::new(dir))
            }
            EmailTransport::Smtp => Transport::Smtp(smtp(config)?),
        };
        Ok(Self {
            transport,
            from,
            ctx,
            store,
            signer,
            clock,
            link_valid: chrono::Duration::hours(config.link_valid_hours.into()),
        })
    }

    /// The message of one notification row.
    async fn compose(&self, n: &Notification, alert: &Alert) -> Result<Message, SendError> {
        let to: Mailbox = n
            .target
            .parse()
            .map_err(|_| SendError::Permanent("not an email address".into()))?;
        let told = Told::of(n);
        let (subject, text, html) = if told.contact {
            self.contact_notice(alert).await.map_err(retry_storage)?
        } else {
            self.responder_message(&told, alert)
                .await
                .map_err(retry_storage)?
        };
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| SendError::Permanent(format!("message not built: {e}")))
    }

    async fn responder_message(
        &self,
        told: &Told,
        alert: &Alert,
    ) -> Result<(String, String, String), StorageError> {
        let who = message::acknowledger_name(&self.store, alert).await?;
        let m = message::render(&self.ctx, alert, told.event, told.step, who.as_deref());
        let mut text = m.text();
        let mut html = m.html();
        if let Some(responder) = &told.responder
            && alert.state == AlertState::Open
        {
            let expires = self.clock.now() + self.link_valid;
            let token = self.signer.issue(alert.id, responder, expires);
            let url = format!("{}{ACK_PATH}/{token}", self.ctx.public_url);
            let until = expires
                .with_timezone(&self.ctx.timezone)
                .format("%m月%d日 %H:%M")
                .to_string();
            text.push_str(&format!(
                "\n\n対応する場合は、次のリンクを開いて「対応します」を押してください（{until}まで、1回限り有効）:\n{url}"
            ));
            html.push_str(&format!(
                "<p><a href=\"{url}\" style=\"display:inline-block;padding:.6em 1.2em;background:#b00020;color:#fff;text-decoration:none;border-radius:4px\">対応します（確認画面へ）</a></p>\
                 <p style=\"color:#555\">リンクは{until}まで、1回限り有効です。</p>",
                url = message::escape(&url),
            ));
        }
        text.push_str("\n\n-- \n見守り mimamori（このメールへの返信は届きません）");
        Ok((m.title, text, wrap_html(&html)))
    }

    /// What a resident's contact reads: the care team knows and is on it. No name, no address,
    /// no link to the dashboard.
    async fn contact_notice(
        &self,
        alert: &Alert,
    ) -> Result<(String, String, String), StorageError> {
        let kind = alert.kind.label_ja();
        let at = alert
            .opened_at
            .with_timezone(&self.ctx.timezone)
            .format("%Y年%m月%d日 %H:%M")
            .to_string();
        let team = match &alert.team {
            Some(id) => match self.store.get_team(id).await {
                Ok(t) => t.name,
                Err(StorageError::NotFound { .. }) => "担当の相談窓口".into(),
                Err(e) => return Err(e),
            },
            None => "担当の相談窓口".into(),
        };
        let subject = format!("【見守り】{kind}のお知らせ");
        let text = format!(
            "見守りの仕組みから「{kind}」の知らせがありました（{at}）。\n\
             {team}に通知し、担当者が確認します。\n\n\
             ご心配な点は{team}にお問い合わせください。\n\
             このメールは、ご本人の同意のもと、連絡先として登録された方にお送りしています。\n\n\
             -- \n見守り mimamori（このメールへの返信は届きません）"
        );
        let html = wrap_html(&format!(
            "<h2>{subject}</h2><p>見守りの仕組みから「{kind}」の知らせがありました（{at}）。</p>\
             <p>{team}に通知し、担当者が確認します。</p>\
             <p>ご心配な点は{team}にお問い合わせください。</p>\
             <p style=\"color:#555\">このメールは、ご本人の同意のもと、連絡先として登録された方にお送りしています。</p>",
            subject = message::escape(&subject),
            kind = message::escape(kind),
            team = message::escape(&team),
        ));
        Ok((subject, text, html))
    }
}

impl Sender for EmailSender {
    fn send<'a>(
        &'a self,
        n: &'a Notification,
        alert: &'a Alert,
    ) -> Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>> {
        Box::pin(async move {
            let email = self.compose(n, alert).await?;
            match &self.transport {
                Transport::Smtp(t) => t.send(email).await.map(|_| ()).map_err(smtp_error),
                Transport::File(t) => {
                    t.send(email)
                        .await
                        .map(|_| ())
                        .map_err(|e| SendError::Retry {
                            reason: format!("mail file not written: {e}"),
                            after: None,
                        })
                }
            }
        })
    }
}

fn smtp(config: &EmailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, EmailError> {
    let host = config.smtp_host.trim();
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(config.smtp_port)
        .timeout(Some(Duration::from_secs(20)));
    if config.security != SmtpSecurity::Plain {
        let mut params = TlsParameters::builder(host.to_string());
        if let Some(path) = &config.ca_cert {
            let pem = std::fs::read(path).map_err(|error| EmailError::CaFile {
                path: path.clone(),
                error,
            })?;
            // lettre takes a file without certificates as none at all: refuse it here.
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err(EmailError::CaPem(path.clone()));
            }
            params =
                params.add_root_certificate(Certificate::from_pem(&pem).map_err(EmailError::Tls)?);
        }
        let params = params.build_rustls().map_err(EmailError::Tls)?;
        builder = builder.tls(match config.security {
            SmtpSecurity::Tls => Tls::Wrapper(params),
            _ => Tls::Required(params),
        });
    }
    if !config.username.is_empty() {
        builder = builder.credentials(Credentials::new(
            config.username.clone(),
            config.password.expose_secret().to_string(),
        ));
    }
    Ok(builder.build())
}

/// A whole HTML document around a fragment.
fn wrap_html(body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\"></head>\
         <body style=\"font-family:sans-serif;line-height:1.6\">{body}</body></html>"
    )
}

/// A refused mailbox is for good; everything else may pass.
fn smtp_error(e: lettre::transport::smtp::Error) -> SendError {
    let code = e.status().map(|c| c.to_string());
    if e.is_permanent() {
        SendError::Permanent(format!(
            "SMTP {} (refused)",
            code.as_deref().unwrap_or("5xx")
        ))
    } else if e.is_transient() {
        SendError::Retry {
            reason: format!("SMTP {} (try later)", code.as_deref().unwrap_or("4xx")),
            after: None,
        }
    } else if e.is_timeout() {
        SendError::Retry {
            reason: "SMTP server timed out".into(),
            after: None,
        }
    } else if e.is_tls() {
        SendError::Retry {
            reason: "SMTP TLS failed (certificate or protocol)".into(),
            after: None,
        }
    } else {
        SendError::Retry {
            reason: "SMTP server unreachable".into(),
            after: None,
        }
    }
}
