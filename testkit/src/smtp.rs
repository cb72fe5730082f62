//! A real SMTP server for tests: Python's [aiosmtpd](https://aiosmtpd.aio-libs.org/) run as a
//! child process, one per test, on a free port of 127.0.0.1.
//!
//! The server speaks SMTP as aiosmtpd does (EHLO, SIZE, 8BITMIME, SMTPUTF8, AUTH PLAIN/LOGIN,
//! STARTTLS), in one of three [`Security`] modes: plain, STARTTLS required before `MAIL`, or
//! implicit TLS on connect (port-465 style). For the TLS modes a throw-away CA and a leaf
//! certificate for `localhost` / `127.0.0.1` are made with the `openssl` command at start; the
//! CA's PEM ([`SmtpServer::ca_pem_path`]) is what the client under test must trust.
//!
//! Every accepted message is decoded by Python's `email` package (RFC 2047 headers, charsets,
//! transfer encodings) and handed back as a [`Received`]: envelope, decoded headers, text and
//! HTML parts, the raw message, and whether the session was under TLS and authenticated.
//! Recipients in [`SmtpOptions::refuse`] are answered `550 5.1.1`. [`SmtpServer::stop`] kills
//! the child so that connections are refused, [`SmtpServer::start_again`] brings it back on the
//! same port with the same certificate.
//!
//! aiosmtpd must be importable by `python3` (`pip install aiosmtpd`). A test that uses this
//! module declares the [`Smtp`](crate::harness::Need::Smtp) need (and
//! [`OpenSsl`](crate::harness::Need::OpenSsl) for the TLS modes): where [`available`] says no,
//! the harness lists it as ignored with the reason, unless `MIMAMORI_TEST_REQUIRE_SMTP=1` (CI)
//! makes it fail.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

/// How long [`SmtpServer::start_with`] waits for the child to listen, and
/// [`SmtpServer::wait_for`] for messages, in real (wall clock) time.
pub const LIMIT: Duration = Duration::from_secs(20);

/// The environment variable that turns a missing aiosmtpd from an ignored test into a failure.
pub const REQUIRE_ENV: &str = "MIMAMORI_TEST_REQUIRE_SMTP";

/// Transport security of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Security {
    /// No TLS at all.
    #[default]
    Plain,
    /// STARTTLS offered in the EHLO answer and required before `MAIL` (530 otherwise).
    Starttls,
    /// TLS from the first byte (SMTPS, port-465 style); STARTTLS is not offered.
    Tls,
}

/// What the server accepts.
#[derive(Debug, Clone, Default)]
pub struct SmtpOptions {
    pub security: Security,
    /// `Some((user, password))`: AUTH (PLAIN or LOGIN) with exactly these is required before
    /// `MAIL`. Under [`Security::Plain`] AUTH is offered without TLS; under
    /// [`Security::Starttls`] only after STARTTLS.
    pub auth: Option<(String, String)>,
    /// Recipient addresses (compared case-insensitively) answered
    /// `550 5.1.1 <addr>: mailbox unavailable` at `RCPT TO`. Others are accepted.
    pub refuse: Vec<String>,
}

/// A message the server accepted, decoded.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Received {
    /// The envelope sender (`MAIL FROM`), without the angle brackets.
    pub mail_from: String,
    /// The accepted envelope recipients (`RCPT TO`), in order.
    pub rcpt_to: Vec<String>,
    /// The `Subject` header, RFC 2047 decoded ("" when missing).
    pub subject: String,
    /// The `From` header, decoded ("" when missing).
    pub from: String,
    /// The `To` header, decoded ("" when missing).
    pub to: String,
    /// The text/plain body part (the first one not an attachment), transfer encoding and
    /// charset decoded, line ends `\n`.
    pub text: Option<String>,
    /// The text/html body part, transfer encoding and charset decoded, line ends `\n`.
    pub html: Option<String>,
    /// Every header, in order, names as sent and values decoded.
    pub headers: Vec<(String, String)>,
    /// The message as received after `DATA` (dot-unstuffed, CRLF line ends), read as UTF-8
    /// with invalid bytes replaced.
    pub raw: String,
    /// Whether the session was under TLS (STARTTLS or implicit) when the message came.
    pub tls: bool,
    /// The login that authenticated the session, if any.
    pub auth_user: Option<String>,
}

impl Received {
    /// The first header named `name` (case-insensitively), decoded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Whether `python3` can import aiosmtpd (runs `python3 -c "import aiosmtpd"`).
pub fn available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The CA and the server's certificate, in a directory removed with the server.
struct Certs {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<Received>>,
    arrived: Notify,
}

/// A running aiosmtpd on 127.0.0.1. Dropping it kills the child.
pub struct SmtpServer {
    child: Option<Child>,
    reader: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    options: SmtpOptions,
    port: u16,
    certs: Option<Certs>,
}

impl SmtpServer {
    /// Starts a plain server without AUTH that accepts every recipient.
    pub async fn start() -> SmtpServer {
        Self::start_with(SmtpOptions::default()).await
    }

    /// Starts a server with `options` on a free port. Panics (naming aiosmtpd) when `python3`
    /// or aiosmtpd is missing or the server does not listen within 20 s.
    pub async fn start_with(options: SmtpOptions) -> SmtpServer {
        let certs = match options.security {
            Security::Plain => None,
            Security::Starttls | Security::Tls => Some(make_certs().await),
        };
        let mut server = SmtpServer {
            child: None,
            reader: None,
            shared: Arc::default(),
            options,
            port: 0,
            certs,
        };
        server.spawn(0).await;
        server
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// For [`Security::Starttls`] and [`Security::Tls`]: the PEM of the CA that signed the
    /// server's certificate (CN `localhost`, SAN `DNS:localhost`, `IP:127.0.0.1`).
    pub fn ca_pem_path(&self) -> Option<&Path> {
        self.certs.as_ref().map(|c| c.ca.as_path())
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> Vec<Received> {
        self.shared.messages.lock().unwrap().clone()
    }

    /// Waits until at least `n` messages have arrived and returns them all. Panics after 20 s
    /// of real time, listing what did arrive. The wait is measured on the wall clock and holds
    /// a blocking task, so a paused tokio clock does not advance (and cannot time out the
    /// client under test) while waiting for the child.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        self.wait_within(n, LIMIT).await
    }

    /// As [`SmtpServer::wait_for`], giving up after `limit` instead of [`LIMIT`].
    pub async fn wait_within(&self, n: usize, limit: Duration) -> Vec<Received> {
        let shared = self.shared.clone();
        let arrived = within_real_time(limit, async move {
            loop {
                let notified = shared.arrived.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                {
                    let messages = shared.messages.lock().unwrap();
                    if messages.len() >= n {
                        return messages.clone();
                    }
                }
                notified.await;
            }
        })
        .await;
        match arrived {
            Some(messages) => messages,
            None => {
                let messages = self.messages();
                let list: Vec<String> = messages
                    .iter()
                    .map(|m| {
                        format!(
                            "  from <{}> to {:?}: {:?}",
                            m.mail_from, m.rcpt_to, m.subject
                        )
                    })
                    .collect();
                panic!(
                    "SMTP server on port {}: waited {limit:?} for {n} message(s), {} message(s) arrived{}{}",
                    self.port,
                    messages.len(),
                    if list.is_empty() { "" } else { ":\n" },
                    list.join("\n")
                );
            }
        }
    }

    /// Kills the child: connections to the port are refused until [`SmtpServer::start_again`].
    /// Messages accepted before are kept.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
        // The child's stdout is closed now; let the reader take the last lines in.
        if let Some(reader) = self.reader.take() {
            let _ = reader.await;
        }
    }

    /// Starts the server again on the same port, with the same options and certificate.
    /// Messages received before are kept.
    pub async fn start_again(&mut self) {
        self.stop().await;
        self.spawn(self.port).await;
    }

    /// Runs the child on `port` (0: any free port) and waits for it to listen.
    async fn spawn(&mut self, port: u16) {
        let (auth_user, auth_password) = match &self.options.auth {
            Some((u, p)) => (Some(u.as_str()), Some(p.as_str())),
            None => (None, None),
        };
        let args = serde_json::json!({
            "port": port,
            "security": match self.options.security {
                Security::Plain => "plain",
                Security::Starttls => "starttls",
                Security::Tls => "tls",
            },
            "cert": self.certs.as_ref().map(|c| &c.cert),
            "key": self.certs.as_ref().map(|c| &c.key),
            "auth": auth_user.zip(auth_password).map(|(u, p)| [u, p]),
            "refuse": self.options.refuse,
        });
        let mut child = match Command::new("python3")
            .arg("-u")
            .arg("-c")
            .arg(SERVER_PY)
            .arg(args.to_string())
            // The child exits when this pipe closes, should the test process die unwinding-free.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(e) => panic!(
                "cannot run python3 for the aiosmtpd SMTP test server ({e}); \
                 install Python 3 and `pip install aiosmtpd`"
            ),
        };
        let stdout = child.stdout.take().expect("piped stdout");
        let (port_tx, port_rx) = oneshot::channel();
        let shared = self.shared.clone();
        let reader = tokio::spawn(read_child(stdout, port_tx, shared));
        match within_real_time(LIMIT, port_rx).await {
            Some(Ok(bound)) => {
                self.port = bound;
                self.child = Some(child);
                self.reader = Some(reader);
            }
            Some(Err(_)) => {
                // The child closed its stdout without listening: it has exited or is exiting.
                let status = within_real_time(Duration::from_secs(5), child.wait()).await;
                panic!(
                    "the aiosmtpd SMTP test server did not start (python3 {}); see its stderr \
                     above. Is aiosmtpd installed (`pip install aiosmtpd`)?{}",
                    match status {
                        Some(Ok(s)) => format!("exited: {s}"),
                        _ => "closed its stdout".to_string(),
                    },
                    if port == 0 {
                        String::new()
                    } else {
                        format!(" (restarting on port {port}, which may have been taken)")
                    }
                );
            }
            None => {
                reader.abort();
                let _ = child.kill().await;
                panic!(
                    "the aiosmtpd SMTP test server did not listen within {LIMIT:?}; see its \
                     stderr above. Is aiosmtpd installed (`pip install aiosmtpd`)?"
                );
            }
        }
    }
}

/// Reads the child's stdout: `PORT <n>` first, then one `MSG <json>` line per message.
async fn read_child(
    stdout: tokio::process::ChildStdout,
    port_tx: oneshot::Sender<u16>,
    shared: Arc<Shared>,
) {
    let mut lines = BufReader::new(stdout).lines();
    let mut port_tx = Some(port_tx);
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(port) = line.strip_prefix("PORT ") {
            match (port.trim().parse(), port_tx.take()) {
                (Ok(port), Some(tx)) => {
                    let _ = tx.send(port);
                }
                _ => eprintln!("smtp testkit: unexpected line from aiosmtpd: {line}"),
            }
        } else if let Some(json) = line.strip_prefix("MSG ") {
            match serde_json::from_str::<Received>(json) {
                Ok(message) => {
                    shared.messages.lock().unwrap().push(message);
                    shared.arrived.notify_waiters();
                }
                Err(e) => {
                    eprintln!("smtp testkit: cannot read a message from aiosmtpd ({e}): {json}")
                }
            }
        } else {
            eprintln!("smtp testkit: unexpected line from aiosmtpd: {line}");
        }
    }
}

/// Runs `fut` for at most `limit` of wall-clock time. The timer is a blocking task (ended as
/// soon as `fut` completes), so it runs on real time even under a paused tokio clock.
async fn within_real_time<F: Future>(limit: Duration, fut: F) -> Option<F::Output> {
    let (_cancel, cancelled) = std::sync::mpsc::channel::<()>();
    let timer = tokio::task::spawn_blocking(move || {
        let _ = cancelled.recv_timeout(limit);
    });
    tokio::select! {
        out = fut => Some(out),
        _ = timer => None,
    }
}

/// Makes a CA and a leaf certificate for `localhost` / `127.0.0.1` signed by it (EC P-256,
/// X.509 v3; the leaf is not a CA and has the serverAuth EKU, as webpki wants).
async fn make_certs() -> Certs {
    let dir = tempfile::tempdir().expect("temporary directory for the SMTP certificates");
    let path = |name: &str| dir.path().join(name);
    std::fs::write(
        path("ca.cnf"),
        "[req]\n\
         distinguished_name = dn\n\
         prompt = no\n\
         [dn]\n\
         CN = mimamori test CA\n\
         [v3_ca]\n\
         basicConstraints = critical, CA:TRUE\n\
         keyUsage = critical, keyCertSign, cRLSign\n\
         subjectKeyIdentifier = hash\n",
    )
    .unwrap();
    std::fs::write(
        path("leaf.cnf"),
        "[req]\n\
         distinguished_name = dn\n\
         prompt = no\n\
         [dn]\n\
         CN = localhost\n\
         [v3_leaf]\n\
         basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature, keyEncipherment\n\
         extendedKeyUsage = serverAuth\n\
         subjectAltName = DNS:localhost, IP:127.0.0.1\n\
         subjectKeyIdentifier = hash\n\
         authorityKeyIdentifier = keyid, issuer\n",
    )
    .unwrap();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    openssl(
        dir.path(),
        &[
            &["req", "-x509", "-config", "ca.cnf", "-extensions", "v3_ca"][..],
            &ec,
            &[
                "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-sha256",
            ],
        ]
        .concat(),
    )
    .await;
    openssl(
        dir.path(),
        &[
            &["req", "-new", "-config", "leaf.cnf"][..],
            &ec,
            &["-nodes", "-keyout", "server.key", "-out", "server.csr"],
        ]
        .concat(),
    )
    .await;
    openssl(
        dir.path(),
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "3650",
            "-sha256",
            "-extfile",
            "leaf.cnf",
            "-extensions",
            "v3_leaf",
        ],
    )
    .await;
    Certs {
        ca: path("ca.pem"),
        cert: path("server.pem"),
        key: path("server.key"),
        _dir: dir,
    }
}

async fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run openssl to make the SMTP test certificates: {e}"));
    assert!(
        output.status.success(),
        "openssl {} failed ({}): {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The server: aiosmtpd's SMTP protocol on an asyncio server bound by hand (aiosmtpd's
/// `Controller` cannot bind port 0). Arguments come as one JSON object in argv[1].
const SERVER_PY: &str = r#"
import asyncio, email, email.policy, json, logging, os, ssl, sys, threading, traceback, warnings

try:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
except ImportError as error:
    print(f"mimamori-testkit: cannot import aiosmtpd ({error}); "
          "install it with `pip install aiosmtpd`", file=sys.stderr)
    sys.exit(3)

args = json.loads(sys.argv[1])
security = args["security"]
auth = args["auth"]
refused = {address.lower() for address in args["refuse"]}
# aiosmtpd warns about AUTH without TLS, which the plain (and implicit TLS) modes allow on
# purpose.
logging.getLogger("mail.log").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")


def exit_with_parent():
    # EOF on stdin: the test process is gone.
    sys.stdin.buffer.read()
    os._exit(0)


threading.Thread(target=exit_with_parent, daemon=True).start()


def authenticate(server, session, envelope, mechanism, auth_data):
    if auth is not None and isinstance(auth_data, LoginPassword):
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        if [login, password] == auth:
            return AuthResult(success=True, auth_data=login)
    return AuthResult(success=False, handled=False)


def decoded(value):
    try:
        return str(value)
    except Exception:
        traceback.print_exc()
        return repr(value)


def header(message, name):
    value = message.get(name)
    return "" if value is None else decoded(value)


def body(message, subtype):
    try:
        part = message.get_body(preferencelist=(subtype,))
        # Line ends as in the text the sender wrote, not the CRLF of the wire.
        return None if part is None else part.get_content().replace("\r\n", "\n")
    except Exception:
        traceback.print_exc()
        return None


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in refused:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content
        message = email.message_from_bytes(data, policy=email.policy.default)
        transport = server.transport
        tls = session.ssl is not None or (
            transport is not None and transport.get_extra_info("sslcontext") is not None)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_to": list(envelope.rcpt_tos),
            "subject": header(message, "Subject"),
            "from": header(message, "From"),
            "to": header(message, "To"),
            "text": body(message, "plain"),
            "html": body(message, "html"),
            "headers": [[name, decoded(value)] for name, value in message.items()],
            "raw": data.decode("utf-8", "replace"),
            "tls": tls,
            "auth_user": session.auth_data if session.authenticated else None,
        }
        print("MSG " + json.dumps(record), flush=True)
        return "250 OK"


async def main():
    loop = asyncio.get_running_loop()
    context = None
    if security != "plain":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args["cert"], args["key"])
    options = {"hostname": "localhost", "enable_SMTPUTF8": True}
    if security == "starttls":
        options.update(tls_context=context, require_starttls=True)
    if auth is not None:
        # Under implicit TLS aiosmtpd does not see a STARTTLS layer, so it must not require one.
        options.update(authenticator=authenticate, auth_required=True,
                       auth_require_tls=(security == "starttls"))
    handler = Handler()
    server = await loop.create_server(
        lambda: SMTP(handler, **options), "127.0.0.1", args["port"],
        ssl=context if security == "tls" else None, reuse_address=True)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


asyncio.run(main())
"#;
