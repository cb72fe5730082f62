//! The broker as a trust boundary, tried with mosquitto_sub and mosquitto_pub (clients nobody here
//! wrote): on the embedded broker (with our rumqttd patch) and on Mosquitto with the ACL that
//! `mimamori admin mosquitto-acl` ships, a device reads and writes only its own topics, an
//! integration only reads alerts, a partner only its own corner.

use mimamori_core::domain::*;
use mimamori_core::storage::Store;
use mimamori_testapp::platform::{BrokerKind, Creds, Platform, SERVICE_USER, provision};
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

/// Registers each `async fn(Store, BrokerKind)` twice, `embedded::name` and `mosquitto::name`;
/// both need Mosquitto's command-line clients.
macro_rules! on_both_brokers {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                mimamori_testkit::case!($name: [Mosquitto] => || {
                    mimamori_testkit::harness::multi_thread(async {
                        let t = mimamori_core::testing::TestStore::sqlite().await;
                        super::$name(t.store.clone(), super::BrokerKind::Embedded).await;
                        t.finish().await;
                    })
                });
            )*
        }
        mod mosquitto {
            $(
                mimamori_testkit::case!($name: [Mosquitto] => || {
                    mimamori_testkit::harness::multi_thread(async {
                        let t = mimamori_core::testing::TestStore::sqlite().await;
                        super::$name(t.store.clone(), super::BrokerKind::Mosquitto).await;
                        t.finish().await;
                    })
                });
            )*
        }
        mod nats_cluster {
            $(
                mimamori_testkit::case!($name: [Mosquitto, Nats] => || {
                    mimamori_testkit::harness::multi_thread(async {
                        let t = mimamori_core::testing::TestStore::sqlite().await;
                        super::$name(t.store.clone(), super::BrokerKind::Nats).await;
                        t.finish().await;
                    })
                });
            )*
        }
    };
}

on_both_brokers!(
    a_device_reads_nothing_but_its_own_topics,
    a_device_cannot_publish_alerts_or_for_another_device,
    an_integration_reads_alerts_and_cannot_publish,
    a_partner_reads_nothing_but_its_receipts,
);

/// Everyone of a test: two devices, a partner, two integrations (city-wide, one district).
struct World {
    p: Platform,
    a: Creds,
    b: Creds,
    partner: (String, String),
    city: (String, String),
    katase: (String, String),
    service_password: String,
}

async fn world(store: Store, kind: BrokerKind) -> World {
    let a = provision(&store, "door-a", DeviceKind::Door, true, None).await;
    let b = provision(&store, "button-b", DeviceKind::CallButton, true, None).await;
    let now = chrono::Utc::now();
    let token = mimamori_core::secret::generate_partner_token();
    store
        .add_partner(
            &NewPartner {
                id: PartnerId::parse("p-post").unwrap(),
                name: "藤沢郵便局".into(),
                kind: PartnerKind::Post,
                agreement: None,
            },
            &mimamori_core::secret::token_hash(&token),
            now,
        )
        .await
        .unwrap();
    let integration = |id: &str, district: Option<&str>| {
        let secret = Integration::generate_secret();
        let new = NewIntegration {
            id: id.into(),
            name: id.into(),
            district: district.map(|d| DistrictId::parse(d).unwrap()),
            secret_hash: mimamori_core::secret::token_hash(&secret),
        };
        (new, secret)
    };
    let (city, city_secret) = integration("int-city", None);
    let (katase, katase_secret) = integration("int-katase", Some("katase"));
    store
        .seed_registry(&mimamori_core::registry::Registry::fujisawa(), now)
        .await
        .unwrap();
    store.add_integration(&city, now).await.unwrap();
    store.add_integration(&katase, now).await.unwrap();
    let partner = ("p-post".to_string(), token);
    let city = ("int-city".to_string(), city_secret);
    let katase = ("int-katase".to_string(), katase_secret);
    let logins = [partner.clone(), city.clone(), katase.clone()];
    let p = Platform::start_with_logins(store, kind, &[a.clone(), b.clone()], false, None, &logins)
        .await;
    let service_password = p.endpoint.password.clone();
    World {
        p,
        a,
        b,
        partner,
        city,
        katase,
        service_password,
    }
}

/// A running mosquitto_sub: its SUBACK codes and the messages it printed (`topic payload`).
struct Sub {
    child: tokio::process::Child,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Sub {
    async fn start(addr: SocketAddr, user: &str, password: &str, filters: &[&str]) -> Self {
        // (stdbuf: its debug lines would wait in stdio's buffer of a pipe.)
        let mut cmd = tokio::process::Command::new("stdbuf");
        cmd.args([
            "-oL",
            "mosquitto_sub",
            "-d",
            "-v",
            "-q",
            "1",
            "-h",
            "127.0.0.1",
        ])
        .args(["-p", &addr.port().to_string()])
        .args(["-i", user, "-u", user, "-P", password]);
        for f in filters {
            cmd.args(["-t", f]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("mosquitto_sub");
        let (tx, lines) = mpsc::unbounded_channel();
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(out).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Self { child, lines }
    }

    async fn next_line(&mut self) -> String {
        tokio::time::timeout(WAIT, self.lines.recv())
            .await
            .expect("mosquitto_sub said nothing in time")
            .inspect(|l| eprintln!("mosquitto_sub: {l}"))
            .expect("mosquitto_sub ended")
    }

    /// The SUBACK's codes, one per filter, in order (128: refused).
    async fn suback(&mut self) -> Vec<u8> {
        loop {
            let line = self.next_line().await;
            if let Some(codes) = line.strip_prefix("Subscribed (mid: 1): ") {
                return codes
                    .split(", ")
                    .map(|c| c.trim().parse().unwrap())
                    .collect();
            }
        }
    }

    /// The messages received until one on `topic` (which is not included).
    async fn messages_until(&mut self, topic: &str) -> Vec<String> {
        let mut before = Vec::new();
        loop {
            let line = self.next_line().await;
            if line.starts_with("Client ") || line.starts_with("Subscribed") {
                continue;
            }
            if line.starts_with(&format!("{topic} ")) {
                return before;
            }
            before.push(line);
        }
    }
}

/// mosquitto_pub at QoS 1: whether it exited successfully (it waits for the PUBACK).
async fn publish(addr: SocketAddr, user: &str, password: &str, topic: &str, payload: &str) -> bool {
    let client_id = if user == SERVICE_USER {
        "mimamori-test-publisher"
    } else {
        user
    };
    tokio::process::Command::new("mosquitto_pub")
        .args(["-q", "1", "-h", "127.0.0.1", "-p", &addr.port().to_string()])
        .args(["-i", client_id, "-u", user, "-P", password])
        .args(["-t", topic, "-m", payload])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .expect("mosquitto_pub")
        .success()
}

/// The SUBACK of `refused` forbidden filters and then `granted` allowed ones. The embedded broker
/// and NATS refuse with 0x80; Mosquitto 2.0 grants every filter and applies its ACL to each message, so
/// there the messages asserted after show the refusal.
fn refused(kind: BrokerKind, refused: usize, granted: usize) -> Vec<u8> {
    let code = if kind == BrokerKind::Mosquitto {
        1
    } else {
        128
    };
    let mut codes = vec![code; refused];
    codes.extend(vec![1; granted]);
    codes
}

fn receipts(c: &Creds) -> String {
    mimamori_core::topic::device_receipts(&c.id)
}

async fn a_device_reads_nothing_but_its_own_topics(store: Store, kind: BrokerKind) {
    let w = world(store, kind).await;
    let own = receipts(&w.a);
    let mut a = Sub::start(
        w.p.addr,
        w.a.id.as_str(),
        &w.a.password,
        &[
            "#",
            &receipts(&w.b),
            "mimamori/v1/devices/+/events",
            "mimamori/v1/alerts/#",
            "mimamori/v1/partners/p-post/receipts",
            &own,
        ],
    )
    .await;
    assert_eq!(a.suback().await, refused(kind, 5, 1));
    // The platform publishes to B, to the alerts topic and to a partner; then to A.
    let svc = (SERVICE_USER, w.service_password.as_str());
    for topic in [
        receipts(&w.b),
        "mimamori/v1/alerts/katase/2".to_string(),
        "mimamori/v1/partners/p-post/receipts".to_string(),
        mimamori_core::topic::device_events(&w.b.id),
    ] {
        assert!(publish(w.p.addr, svc.0, svc.1, &topic, "secret-of-others").await);
    }
    assert!(publish(w.p.addr, svc.0, svc.1, &own, "mine").await);
    assert_eq!(a.messages_until(&own).await, Vec::<String>::new());
    drop(a.child);
    w.p.finish().await;
}

async fn a_device_cannot_publish_alerts_or_for_another_device(store: Store, kind: BrokerKind) {
    let w = world(store, kind).await;
    let (city_user, city_secret) = &w.city;
    let mut integration =
        Sub::start(w.p.addr, city_user, city_secret, &["mimamori/v1/alerts/#"]).await;
    assert_eq!(integration.suback().await, vec![1]);
    let mut b = Sub::start(w.p.addr, w.b.id.as_str(), &w.b.password, &[&receipts(&w.b)]).await;
    assert_eq!(b.suback().await, vec![1]);
    let forged_alert = r#"{"v":1,"event":"resolved","alert":{"id":2,"state":"resolved"}}"#;
    // A door sensor publishes a fake resolution on another district's alert, a receipt for B
    // and an event in B's name: each is acknowledged (QoS 1) and dropped.
    publish(
        w.p.addr,
        w.a.id.as_str(),
        &w.a.password,
        "mimamori/v1/alerts/katase/2",
        forged_alert,
    )
    .await;
    publish(
        w.p.addr,
        w.a.id.as_str(),
        &w.a.password,
        &receipts(&w.b),
        "7",
    )
    .await;
    publish(
        w.p.addr,
        w.a.id.as_str(),
        &w.a.password,
        &mimamori_core::topic::device_events(&w.b.id),
        r#"{"v":1,"type":"emergency","seq":1}"#,
    )
    .await;
    // What the platform publishes still arrives, and nothing before it.
    let svc = (SERVICE_USER, w.service_password.as_str());
    let alert = "mimamori/v1/alerts/kugenuma/9";
    assert!(publish(w.p.addr, svc.0, svc.1, alert, "{}").await);
    assert!(publish(w.p.addr, svc.0, svc.1, &receipts(&w.b), "1").await);
    assert_eq!(
        integration.messages_until(alert).await,
        Vec::<String>::new()
    );
    assert_eq!(
        b.messages_until(&receipts(&w.b)).await,
        Vec::<String>::new()
    );
    // A retained forgery would reach later subscribers: there is none. The first subscriber
    // goes first: two mosquitto_sub with one client id take the session from each other in
    // turns (each reconnects at once), which a loaded NATS cluster did until one gave up.
    integration.child.kill().await.unwrap();
    drop(integration);
    let mut later = Sub::start(w.p.addr, city_user, city_secret, &["mimamori/v1/alerts/#"]).await;
    assert_eq!(later.suback().await, vec![1]);
    assert!(publish(w.p.addr, svc.0, svc.1, alert, "{}").await);
    assert_eq!(later.messages_until(alert).await, Vec::<String>::new());
    w.p.finish().await;
}

async fn an_integration_reads_alerts_and_cannot_publish(store: Store, kind: BrokerKind) {
    let w = world(store, kind).await;
    let (k_user, k_secret) = &w.katase;
    // A city-wide integration publishing on the alerts topic reaches no one (katase listens).
    let (c_user, c_secret) = &w.city;
    let mut katase = Sub::start(
        w.p.addr,
        k_user,
        k_secret,
        &[
            "mimamori/v1/alerts/#",
            "mimamori/v1/alerts/kugenuma/#",
            "#",
            "mimamori/v1/alerts/katase/#",
        ],
    )
    .await;
    assert_eq!(katase.suback().await, refused(kind, 3, 1));
    publish(
        w.p.addr,
        c_user,
        c_secret,
        "mimamori/v1/alerts/katase/3",
        "forged",
    )
    .await;
    let mut city = Sub::start(w.p.addr, c_user, c_secret, &["mimamori/v1/alerts/#"]).await;
    assert_eq!(city.suback().await, vec![1]);
    let svc = (SERVICE_USER, w.service_password.as_str());
    assert!(
        publish(
            w.p.addr,
            svc.0,
            svc.1,
            "mimamori/v1/alerts/kugenuma/4",
            "other"
        )
        .await
    );
    assert!(
        publish(
            w.p.addr,
            svc.0,
            svc.1,
            "mimamori/v1/alerts/katase/5",
            "ours"
        )
        .await
    );
    assert_eq!(
        katase.messages_until("mimamori/v1/alerts/katase/5").await,
        Vec::<String>::new()
    );
    assert_eq!(
        city.messages_until("mimamori/v1/alerts/katase/5").await,
        vec!["mimamori/v1/alerts/kugenuma/4 other".to_string()]
    );
    w.p.finish().await;
}

async fn a_partner_reads_nothing_but_its_receipts(store: Store, kind: BrokerKind) {
    let w = world(store, kind).await;
    let (user, token) = &w.partner;
    let own = "mimamori/v1/partners/p-post/receipts";
    let mut partner = Sub::start(
        w.p.addr,
        user,
        token,
        &[
            "#",
            "mimamori/v1/partners/+/receipts",
            "mimamori/v1/partners/p-other/receipts",
            "mimamori/v1/alerts/#",
            "mimamori/v1/partners/p-post/concerns",
            own,
        ],
    )
    .await;
    assert_eq!(partner.suback().await, refused(kind, 5, 1));
    let svc = (SERVICE_USER, w.service_password.as_str());
    for topic in [
        "mimamori/v1/partners/p-other/receipts",
        "mimamori/v1/alerts/katase/1",
    ] {
        assert!(publish(w.p.addr, svc.0, svc.1, topic, "not yours").await);
    }
    assert!(publish(w.p.addr, svc.0, svc.1, own, "yours").await);
    assert_eq!(partner.messages_until(own).await, Vec::<String>::new());
    // It publishes its concerns; not someone else's, not on devices' topics.
    let mut platform_view =
        Sub::start(w.p.addr, w.b.id.as_str(), &w.b.password, &[&receipts(&w.b)]).await;
    assert_eq!(platform_view.suback().await, vec![1]);
    publish(w.p.addr, user, token, &receipts(&w.b), "99").await;
    assert!(publish(w.p.addr, svc.0, svc.1, &receipts(&w.b), "1").await);
    assert_eq!(
        platform_view.messages_until(&receipts(&w.b)).await,
        Vec::<String>::new()
    );
    let _ = w.a;
    w.p.finish().await;
}

mimamori_testkit::main!();
