//! # mimamori-testapp
//!
//! The one way integration tests start mimamori, after zero-to-production's `spawn_app()`:
//! [`spawn_app`] takes the fresh, migrated store the backend macro gives
//! (`mimamori_core::on_both_backends!`) and [`Options`] saying which stand-ins to use, builds a
//! `Config` in code, and starts the components **through their faces** —
//! `mimamori_alerts::build` and `mimamori_web::build`, the web server's router served on
//! `127.0.0.1:0` — on a [`ManualClock`]. What a test pokes comes back on [`TestApp`]: the store,
//! the clock, the served address, HTTP clients, the rules and the outbox one step at a time
//! ([`TestApp::tick`], [`TestApp::escalate`], [`TestApp::drain`]) and the Telegram bot
//! ([`TestApp::poll_telegram`]). With [`Options::mqtt_broker`] an embedded broker is started
//! for the app and the alert service publishes there ([`TestApp::broker`]).
//!
//! The alert service is stepped, not run: a test decides when the rules look and when the outbox
//! sends, so that what it asserts never races a background loop (STYLE.md rule 8).
//!
//! Beside it, the people and homes the stories are about ([`home`], [`people`]), an integration
//! following the alert stream as docs/ALERTS.md says ([`follower`]), the check that
//! nothing sent shows a resident's personal data ([`privacy`]), a scripted webhook receiver
//! ([`webhook`]), pages looked at in a browser at a desk's and a phone's width with axe-core's
//! accessibility check and screenshots ([`pages`]), and the device side end to end — a broker, the gateway and devices over TCP
//! ([`platform`]).

pub mod follower;
pub mod home;
pub mod nats;
pub mod pages;
pub mod people;
pub mod platform;
pub mod privacy;
pub mod webhook;

use chrono::{DateTime, Utc};
use mimamori_alerts::Alerts;
use mimamori_alerts::notify::Step;
use mimamori_alerts::notify::telegram::Telegram;
use mimamori_core::clock::{Clock, ManualClock};
use mimamori_core::config::{
    Config, EmailConfig, EmailTransport, SmtpSecurity, TelegramConfig, TelegramMode,
};
use mimamori_core::domain::{Alert, AlertId, ResidentId};
use mimamori_core::endpoint::MqttEndpoint;
use mimamori_core::registry::Registry;
use mimamori_core::storage::StorageError;
use mimamori_core::storage::Store;
use mimamori_testkit::smtp::SmtpServer;
use mimamori_testkit::telegram::BotApi;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A time in the city (JST), e.g. `2026-12-01T10:00:00`.
pub fn jst(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{s}+09:00"))
        .unwrap()
        .with_timezone(&Utc)
}

/// What a test's app is made of, beyond the defaults (no channel on, links to the served address).
pub struct Options {
    /// The clock every component reads.
    clock: ManualClock,
    /// The configuration the components are built from; the stand-ins' addresses are filled in.
    config: Config,
    /// `http.public_url` as messages show it; unset: the served address, so links work.
    public_url: Option<String>,
    /// Telegram on, against a local Bot API server with this bot token.
    telegram: Option<String>,
    /// Email on, against this SMTP server.
    smtp: Option<SmtpServer>,
    /// An embedded broker started for the app, which the alert service publishes to.
    broker: bool,
    /// The demo admin's token, as `up --demo` hands it to the web server.
    demo_token: Option<String>,
}

impl Options {
    /// The default configuration (Fujisawa, no channel on), the clock at `at`.
    pub fn at(at: DateTime<Utc>) -> Self {
        Self::on(ManualClock::new(at))
    }

    /// As [`Options::at`], on a clock the test already holds (it arranged the store with it).
    pub fn on(clock: ManualClock) -> Self {
        let mut config = Config::default();
        config.notify.mqtt_alerts = false;
        Self {
            clock,
            config,
            public_url: None,
            telegram: None,
            smtp: None,
            broker: false,
            demo_token: None,
        }
    }

    /// Messages link to `url` instead of the served address.
    pub fn public_url(mut self, url: &str) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// The web server runs as `up --demo` runs it: the status page signs the responder of
    /// `token` in with one click, for a browser on the machine itself.
    pub fn demo(mut self, token: &str) -> Self {
        self.demo_token = Some(token.into());
        self
    }

    /// Alert changes are published on the MQTT alerts topic (`notify.mqtt_alerts`).
    pub fn mqtt_alerts(mut self) -> Self {
        self.config.notify.mqtt_alerts = true;
        self
    }

    /// Alert changes are published on the MQTT alerts topic of a real broker: an embedded one
    /// started for the app ([`TestApp::broker`]), to which the alert service connects. Integrations
    /// subscribe there; the outbox is still stepped by the test.
    pub fn mqtt_broker(mut self) -> Self {
        self.config.notify.mqtt_alerts = true;
        self.broker = true;
        self
    }

    /// Alert changes are posted to the webhook at `url`, signed with `secret`.
    pub fn webhook(mut self, url: &str, secret: &str) -> Self {
        self.config
            .notify
            .webhooks
            .push(mimamori_core::config::WebhookConfig {
                url: url.into(),
                secret: secret.into(),
                teams: vec![],
            });
        self
    }

    /// Responders are told on Telegram, through a local Bot API server ([`TestApp::telegram`])
    /// knowing the bot `token`; no pause between messages to one chat.
    pub fn telegram(mut self, token: &str) -> Self {
        self.telegram = Some(token.into());
        self
    }

    /// Changes the configuration the components are built from (e.g. Telegram's pacing, which
    /// waits in real time).
    pub fn configure(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }

    /// As [`Options::telegram`], Telegram posting updates to the web server (webhook mode) with
    /// `secret`.
    pub fn telegram_webhook(mut self, token: &str, secret: &str) -> Self {
        self.config.notify.telegram.mode = TelegramMode::Webhook;
        self.config.notify.telegram.webhook_secret = secret.into();
        self.telegram(token)
    }

    /// Responders and contacts are emailed through `smtp`, plain SMTP, from the city's address.
    pub fn email(self, smtp: SmtpServer) -> Self {
        let config = plain_email(&smtp);
        self.email_with(smtp, config)
    }

    /// Email through `smtp` with `config` as `[notify.email]` (TLS, a login, the file transport).
    pub fn email_with(mut self, smtp: SmtpServer, config: EmailConfig) -> Self {
        self.config.notify.email = config;
        self.smtp = Some(smtp);
        self
    }
}

/// `[notify.email]` for `smtp`: plain SMTP, from the city's address.
pub fn plain_email(smtp: &SmtpServer) -> EmailConfig {
    EmailConfig {
        enabled: true,
        transport: EmailTransport::Smtp,
        smtp_host: "127.0.0.1".into(),
        smtp_port: smtp.port(),
        security: SmtpSecurity::Plain,
        from: "見守り mimamori <mimamori@city.example.jp>".into(),
        ..Default::default()
    }
}

/// A running app: the web server serving, the alert service built and stepped by the test.
pub struct TestApp {
    /// The store every component uses; tests arrange and check through it.
    pub store: Store,
    /// The clock every component reads; tests move it.
    pub clock: ManualClock,
    /// Where the web server listens, e.g. `http://127.0.0.1:41234`.
    pub base: String,
    /// A client that follows redirects, as a browser does.
    pub http: reqwest::Client,
    /// A client that does not follow redirects (tests check where a page sends them).
    pub http_no_redirects: reqwest::Client,
    /// The configuration the components were built from.
    pub config: Config,
    /// The local Bot API server, when Telegram is on.
    pub telegram: Option<BotApi>,
    /// The SMTP server, when email is on.
    pub smtp: Option<SmtpServer>,
    /// The embedded broker the alert service publishes to, when started ([`Options::mqtt_broker`]).
    pub broker: Option<BrokerAccess>,
    /// The alert service, built through its face and stepped by the test.
    alerts: Alerts,
    /// Stops the web server when the app is dropped.
    shutdown: CancellationToken,
}

/// Where the app's broker listens, and the platform's own login there (it may subscribe to
/// everything).
#[derive(Debug, Clone)]
pub struct BrokerAccess {
    pub addr: std::net::SocketAddr,
    pub username: String,
    pub password: String,
}

/// Starts mimamori over `store` as `options` say: the web server on `127.0.0.1:0`, the alert
/// service built and ready to step.
pub async fn spawn_app(store: Store, options: Options) -> TestApp {
    mimamori_alerts::notify::install_crypto_provider();
    let Options {
        clock,
        mut config,
        public_url,
        telegram,
        smtp,
        broker,
        demo_token,
    } = options;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    config.http.public_url = public_url.unwrap_or_else(|| base.clone());
    let bot_api = match telegram {
        Some(token) => {
            let api = BotApi::start(&token).await;
            config.notify.telegram = TelegramConfig {
                enabled: true,
                token: token.into(),
                api_url: api.url.clone(),
                per_chat_interval_ms: 0,
                ..std::mem::take(&mut config.notify.telegram)
            };
            Some(api)
        }
        None => None,
    };
    let registry = Arc::new(Registry::fujisawa());
    // Without a broker, alert messages and reminders queue on a client nobody connects.
    let broker = if broker {
        config.broker.listen = "127.0.0.1:0".parse().unwrap();
        config.mqtt.username = platform::SERVICE_USER.into();
        let password = mimamori_core::secret::generate_device_password();
        let started = mimamori_broker::start_embedded(&config, &store, &password)
            .await
            .unwrap();
        Some(BrokerAccess {
            addr: started.addr,
            username: config.mqtt.username.clone(),
            password,
        })
    } else {
        None
    };
    let endpoint = match &broker {
        Some(b) => MqttEndpoint::resolve(&config, Some(b.addr), b.password.clone()).unwrap(),
        None => MqttEndpoint::resolve(&config, None, "unused".into()).unwrap(),
    };
    let mut alerts = mimamori_alerts::build(
        &config,
        store.clone(),
        &registry,
        Arc::new(clock.clone()),
        &endpoint,
    )
    .await
    .unwrap();
    let web = mimamori_web::build(
        &config,
        store.clone(),
        registry,
        Arc::new(clock.clone()),
        mimamori_web::Parts {
            telegram_webhook: alerts.telegram_webhook(),
            rules_waker: Some(alerts.waker()),
            demo_token,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(web.serve(listener, shutdown.clone()));
    if broker.is_some() {
        alerts.connect(&tokio_util::task::TaskTracker::new(), &shutdown);
    }
    TestApp {
        store,
        clock,
        base,
        http: reqwest::Client::new(),
        http_no_redirects: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        config,
        telegram: bot_api,
        smtp,
        broker,
        alerts,
        shutdown,
    }
}

impl TestApp {
    /// The alerts the rules open or escalate now (one step of the service).
    pub async fn tick(&mut self) -> Vec<Alert> {
        self.alerts.tick().await.unwrap()
    }

    /// The escalation steps due now (one step of the service's escalation): how many were taken.
    pub async fn escalate(&mut self) -> usize {
        self.alerts.escalate().await.unwrap()
    }

    /// Sends everything due now, one outbox step at a time: what each step did.
    pub async fn drain(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        while let Some(step) = self.alerts.send_next().await.unwrap() {
            steps.push(step);
        }
        steps
    }

    /// One step of the service as its loops take it — rules, escalation, then the outbox until
    /// nothing is due — stopping at the first storage failure (the store down or full), which it
    /// returns: the loops log it and try again at their next turn.
    pub async fn try_step(&mut self) -> Result<(), StorageError> {
        self.alerts.tick().await?;
        self.alerts.escalate().await?;
        while self.alerts.send_next().await?.is_some() {}
        Ok(())
    }

    /// Waits until the alert service is connected to the app's broker ([`Options::mqtt_broker`]).
    pub async fn wait_mqtt_connected(&self) {
        let mut connected = self.alerts.mqtt_connected();
        tokio::time::timeout(
            std::time::Duration::from_secs(30),
            connected.wait_for(|up| *up),
        )
        .await
        .expect("the alert service connects to the broker within 30 s")
        .unwrap();
    }

    /// The resident's call button pressed now (press number `seq`, see [`home::press`]): the
    /// alert the rules open for it.
    pub async fn press_button(&mut self, resident: &ResidentId, seq: i64) -> Alert {
        home::press(&self.store, resident, seq, self.clock.now()).await;
        self.tick().await.remove(0)
    }

    /// The alert `id` as stored now.
    pub async fn alert(&self, id: AlertId) -> Alert {
        self.store.get_alert(id).await.unwrap()
    }

    /// The Telegram bot (when on), e.g. to register its webhook.
    pub fn bot(&self) -> Arc<Telegram> {
        self.alerts
            .telegram()
            .expect("Telegram is on: Options::telegram")
    }

    /// Handles what the Bot API server has for the bot: how many updates.
    pub async fn poll_telegram(&self) -> usize {
        self.bot().poll_once(0).await.unwrap()
    }

    /// The local Bot API server.
    pub fn bot_api(&self) -> &BotApi {
        self.telegram
            .as_ref()
            .expect("Telegram is on: Options::telegram")
    }

    /// The local Bot API server, to stop and resume it.
    pub fn bot_api_mut(&mut self) -> &mut BotApi {
        self.telegram
            .as_mut()
            .expect("Telegram is on: Options::telegram")
    }

    /// The SMTP server.
    pub fn smtp(&self) -> &SmtpServer {
        self.smtp.as_ref().expect("email is on: Options::email")
    }

    /// Signs in to the dashboard with a responder's `token`: the session cookie.
    pub async fn sign_in(&self, token: &str) -> String {
        let (signin_cookie, signin_token) = sign_in_pair(&self.http_no_redirects, &self.base).await;
        let signed_in = self
            .http_no_redirects
            .post(self.url("/login"))
            .header("cookie", signin_cookie)
            .form(&[
                ("token", token),
                ("next", "/alerts"),
                ("signin_token", &signin_token),
            ])
            .send()
            .await
            .unwrap();
        let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
        cookie.split(';').next().unwrap().to_string()
    }

    /// A page at `path`, signed in with `cookie`: status and text.
    pub async fn page(&self, path: &str, cookie: &str) -> (reqwest::StatusCode, String) {
        let r = self
            .http
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// The SMTP server, to stop and start it again.
    pub fn smtp_mut(&mut self) -> &mut SmtpServer {
        self.smtp.as_mut().expect("email is on: Options::email")
    }

    /// `path` on the web server, e.g. `/alerts/1`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// What the sign-in page at `base` gives a browser, which a sign-in sends back: its pre-session
/// cookie (`name=value`) and the form's copy of the value (the sign-in form's CSRF pair).
pub async fn sign_in_pair(http: &reqwest::Client, base: &str) -> (String, String) {
    let r = http.get(format!("{base}/login")).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let page = r.text().await.unwrap();
    let at = page
        .find("name=\"signin_token\" value=\"")
        .expect("a sign-in form")
        + 27;
    (cookie, page[at..].split('"').next().unwrap().to_string())
}
