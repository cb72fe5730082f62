//! The SMTP server of [`mimamori_testkit::smtp`] against a raw SMTP client and Python's smtplib:
//! refused recipients, Japanese headers decoded, stop and start again on the same port, AUTH,
//! STARTTLS and implicit TLS verified against the throw-away CA, and waits measured on real time.
//! Every case but the base64 helper's needs aiosmtpd (and `openssl` for TLS).

use mimamori_testkit::smtp::{LIMIT, Security, SmtpOptions, SmtpServer};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;

mimamori_testkit::tests! {
    sync base64_matches_rfc4648_vectors;
    current_thread plain_session_refuses_and_decodes_japanese: [Smtp];
    current_thread stop_refuses_connections_and_start_again_keeps_port_and_messages: [Smtp];
    current_thread plain_auth_is_required_and_recorded: [Smtp];
    current_thread starttls_is_offered_and_required: [Smtp, OpenSsl];
    current_thread starttls_with_auth_verifies_against_the_ca: [Smtp, OpenSsl];
    current_thread implicit_tls_with_auth_verifies_against_the_ca: [Smtp, OpenSsl];
    paused wait_for_runs_on_real_time_under_a_paused_clock: [Smtp];
    current_thread wait_for_panics_listing_what_arrived: [Smtp];
}

/// A line-at-a-time SMTP client on a raw TCP stream.
struct Client {
    stream: BufReader<TcpStream>,
}

impl Client {
    async fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut client = Client {
            stream: BufReader::new(stream),
        };
        let greeting = client.reply().await;
        assert!(greeting.starts_with("220"), "greeting: {greeting}");
        client
    }

    /// One reply, all its lines joined by '\n'.
    async fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let read = self.stream.read_line(&mut line).await.unwrap();
            assert!(read > 0, "connection closed after {lines:?}");
            let line = line.trim_end().to_string();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    async fn send(&mut self, command: &str) -> String {
        self.stream
            .get_mut()
            .write_all(format!("{command}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }

    async fn expect(&mut self, command: &str, code: &str) -> String {
        let reply = self.send(command).await;
        assert!(reply.starts_with(code), "{command} → {reply}");
        reply
    }

    /// Sends one message from a@example.com to `to`, the session already greeted.
    async fn mail(&mut self, to: &str, message: &str) {
        self.expect("MAIL FROM:<a@example.com>", "250").await;
        self.expect(&format!("RCPT TO:<{to}>"), "250").await;
        self.expect("DATA", "354").await;
        self.expect(&format!("{message}\r\n."), "250").await;
    }
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn japanese_message(subject: &str, text: &str) -> String {
    format!(
        "From: =?UTF-8?B?{}?= <a@example.com>\r\n\
         To: family@example.com\r\n\
         Subject: =?UTF-8?B?{}?=\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {}",
        base64("見守りセンター".as_bytes()),
        base64(subject.as_bytes()),
        base64(text.as_bytes())
    )
}

fn base64_matches_rfc4648_vectors() {
    let vectors = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];
    for (plain, encoded) in vectors {
        assert_eq!(base64(plain.as_bytes()), encoded);
    }
}

async fn plain_session_refuses_and_decodes_japanese() {
    let server = SmtpServer::start_with(SmtpOptions {
        refuse: vec!["Nobody@Example.com".into()],
        ..Default::default()
    })
    .await;
    assert!(server.ca_pem_path().is_none());
    let mut client = Client::connect(server.port()).await;
    let ehlo = client.expect("EHLO client.example", "250").await;
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    client.expect("MAIL FROM:<a@example.com>", "250").await;
    let refused = client.expect("RCPT TO:<nobody@example.com>", "550").await;
    assert_eq!(
        refused,
        "550 5.1.1 <nobody@example.com>: mailbox unavailable"
    );
    client.expect("RCPT TO:<family@example.com>", "250").await;
    client.expect("DATA", "354").await;
    let subject = "【見守り】田中さんの部屋で反応がありません";
    let text = "田中 花子さん（203号室）の人感センサーが6時間反応していません。\n";
    client
        .expect(&format!("{}\r\n.", japanese_message(subject, text)), "250")
        .await;
    client.expect("QUIT", "221").await;

    let received = server.wait_for(1).await;
    assert_eq!(received.len(), 1);
    let m = &received[0];
    assert_eq!(m.mail_from, "a@example.com");
    assert_eq!(m.rcpt_to, vec!["family@example.com".to_string()]);
    assert_eq!(m.subject, subject);
    assert_eq!(m.text.as_deref(), Some(text));
    assert_eq!(m.html, None);
    assert_eq!(m.from, "見守りセンター <a@example.com>");
    assert_eq!(m.to, "family@example.com");
    assert_eq!(m.header("subject"), Some(subject));
    assert!(m.raw.contains("Subject: =?UTF-8?B?"), "{}", m.raw);
    assert!(!m.tls);
    assert_eq!(m.auth_user, None);
    assert_eq!(server.messages().len(), 1);
}

async fn stop_refuses_connections_and_start_again_keeps_port_and_messages() {
    let mut server = SmtpServer::start().await;
    let port = server.port();
    let mut client = Client::connect(port).await;
    client.expect("EHLO client.example", "250").await;
    client
        .mail("one@example.com", &japanese_message("一通目", "本文1"))
        .await;
    client.expect("QUIT", "221").await;
    server.wait_for(1).await;

    server.stop().await;
    let refused = TcpStream::connect(("127.0.0.1", port)).await;
    assert!(refused.is_err(), "connected to a stopped server");

    server.start_again().await;
    assert_eq!(server.port(), port);
    let mut client = Client::connect(port).await;
    client.expect("HELO client.example", "250").await;
    client
        .mail("two@example.com", &japanese_message("二通目", "本文2"))
        .await;
    client.expect("QUIT", "221").await;
    let received = server.wait_for(2).await;
    let subjects: Vec<&str> = received.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(subjects, ["一通目", "二通目"]);
}

async fn plain_auth_is_required_and_recorded() {
    let server = SmtpServer::start_with(SmtpOptions {
        auth: Some(("mimamori".into(), "秘密pw".into())),
        ..Default::default()
    })
    .await;
    let mut client = Client::connect(server.port()).await;
    let ehlo = client.expect("EHLO client.example", "250").await;
    assert!(ehlo.contains("AUTH LOGIN PLAIN"), "{ehlo}");
    client.expect("MAIL FROM:<a@example.com>", "530").await;
    let wrong = base64("\0mimamori\0wrong".as_bytes());
    client.expect(&format!("AUTH PLAIN {wrong}"), "535").await;
    let right = base64("\0mimamori\0秘密pw".as_bytes());
    client.expect(&format!("AUTH PLAIN {right}"), "235").await;
    client
        .mail("family@example.com", &japanese_message("認証", "本文"))
        .await;
    client.expect("QUIT", "221").await;
    let m = &server.wait_for(1).await[0];
    assert_eq!(m.auth_user.as_deref(), Some("mimamori"));
    assert!(!m.tls);
}

async fn starttls_is_offered_and_required() {
    let server = SmtpServer::start_with(SmtpOptions {
        security: Security::Starttls,
        ..Default::default()
    })
    .await;
    let ca = server.ca_pem_path().expect("a CA for STARTTLS");
    let pem = std::fs::read_to_string(ca).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let dir = ca.parent().unwrap();
    assert!(dir.join("server.pem").is_file() && dir.join("server.key").is_file());
    let mut client = Client::connect(server.port()).await;
    let ehlo = client.expect("EHLO client.example", "250").await;
    assert!(ehlo.lines().any(|l| l.contains("STARTTLS")), "{ehlo}");
    client.expect("MAIL FROM:<a@example.com>", "530").await;
    client.expect("QUIT", "221").await;
}

/// Sends one message with Python's smtplib, verifying the server's certificate against the
/// CA and the name `localhost`, as a TLS client under test would.
async fn python_send(server: &SmtpServer, starttls: bool, auth: Option<(&str, &str)>) {
    let script = r#"
import smtplib, ssl, sys
port, ca, starttls, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1", sys.argv[4], sys.argv[5]
context = ssl.create_default_context(cafile=ca)
if starttls:
    client = smtplib.SMTP("localhost", port, timeout=10)
    client.starttls(context=context)
else:
    client = smtplib.SMTP_SSL("localhost", port, context=context, timeout=10)
if user:
    client.login(user, password)
client.sendmail("a@example.com", ["family@example.com"],
    "Subject: =?UTF-8?B?5pqX5Y+3?=\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<p>ok</p>\r\n")
client.quit()
"#;
    let (user, password) = auth.unwrap_or(("", ""));
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(server.port().to_string())
        .arg(server.ca_pem_path().unwrap())
        .arg(if starttls { "1" } else { "0" })
        .arg(user)
        .arg(password)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "python smtplib client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn starttls_with_auth_verifies_against_the_ca() {
    let server = SmtpServer::start_with(SmtpOptions {
        security: Security::Starttls,
        auth: Some(("user".into(), "pass".into())),
        ..Default::default()
    })
    .await;
    python_send(&server, true, Some(("user", "pass"))).await;
    let m = &server.wait_for(1).await[0];
    assert!(m.tls);
    assert_eq!(m.auth_user.as_deref(), Some("user"));
    assert_eq!(m.subject, "暗号");
    assert_eq!(m.html.as_deref(), Some("<p>ok</p>\n"));
    assert_eq!(m.text, None);
}

async fn implicit_tls_with_auth_verifies_against_the_ca() {
    let server = SmtpServer::start_with(SmtpOptions {
        security: Security::Tls,
        auth: Some(("user".into(), "pass".into())),
        ..Default::default()
    })
    .await;
    python_send(&server, false, Some(("user", "pass"))).await;
    let m = &server.wait_for(1).await[0];
    assert!(m.tls);
    assert_eq!(m.auth_user.as_deref(), Some("user"));
    assert_eq!(m.subject, "暗号");
}

async fn wait_for_runs_on_real_time_under_a_paused_clock() {
    let server = SmtpServer::start().await;
    let port = server.port();
    let sender = tokio::spawn(async move {
        let mut client = Client::connect(port).await;
        client.expect("EHLO client.example", "250").await;
        client
            .mail("family@example.com", &japanese_message("時計", "本文"))
            .await;
        client.expect("QUIT", "221").await;
    });
    let started = Instant::now();
    let received = server.wait_for(1).await;
    assert_eq!(received[0].subject, "時計");
    assert!(started.elapsed() < LIMIT);
    sender.await.unwrap();
}

async fn wait_for_panics_listing_what_arrived() {
    let server = SmtpServer::start().await;
    let mut client = Client::connect(server.port()).await;
    client.expect("EHLO client.example", "250").await;
    client
        .mail("family@example.com", &japanese_message("一通だけ", "本文"))
        .await;
    client.expect("QUIT", "221").await;
    server.wait_for(1).await;
    let waiting = tokio::spawn(async move {
        server.wait_within(2, Duration::from_millis(300)).await;
    });
    let panic = waiting.await.unwrap_err().into_panic();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.ends_with(
            "for 2 message(s), 1 message(s) arrived:\n  \
             from <a@example.com> to [\"family@example.com\"]: \"一通だけ\""
        ),
        "{message}"
    );
}

mimamori_testkit::main!();
