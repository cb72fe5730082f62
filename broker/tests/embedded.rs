//! The embedded broker over real sockets: MQTT 3.1.1 as the spec says where upstream rumqttd bent
//! it (each change of `vendor/rumqttd/PATCHES.md` has its case here or in the root
//! `tests/broker_rights.rs`), logins of every kind, a revoked login dropped while connected, and
//! refusals slowed without slowing anyone else, and the platform's own session without a socket
//! (`mimamori_broker::local`).

use mimamori_broker::security::Refusal;
use mimamori_core::config::Config;
use mimamori_core::domain::*;
use mimamori_core::secret::{
    DeviceSecretCheck, PasswordHasherConfig, check_device_secret, device_mac_key,
    device_secret_hash, generate_device_password, token_hash,
};
use mimamori_core::storage::Store;
use mimamori_core::testing::TestStore;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mimamori_testkit::tests! {
    multi_thread keepalive_zero_is_accepted_and_a_second_connect_closes;
    multi_thread a_connect_without_login_is_refused_with_code_5_and_counted;
    multi_thread messages_arrive_at_the_lower_of_publish_and_subscription_qos;
    multi_thread a_disabled_or_rotated_device_is_dropped_while_connected;
    multi_thread a_revoked_partner_or_integration_is_dropped_while_connected;
    multi_thread an_argon2_device_hash_still_logs_in_and_becomes_fast;
    multi_thread repeated_failures_are_slowed_and_others_are_not;
    multi_thread a_local_session_gets_again_what_it_did_not_acknowledge;
    multi_thread a_local_session_takes_at_most_what_it_asks_and_the_rest_before_acknowledging;
    multi_thread what_every_reader_has_read_is_released_and_an_absent_session_keeps_its_own;
    multi_thread a_devices_acknowledgement_goes_with_its_receipt_or_alone_when_none_comes;
}

const WAIT: Duration = Duration::from_secs(10);
const SERVICE: &str = "mimamori-service";

struct Running {
    t: TestStore,
    broker: mimamori_broker::EmbeddedBroker,
    service_password: String,
}

async fn running() -> Running {
    running_with(|_| {}).await
}

/// A broker of the default configuration changed by `change`.
async fn running_with(change: impl FnOnce(&mut Config)) -> Running {
    let t = TestStore::sqlite().await;
    let mut config = Config::default();
    change(&mut config);
    config.broker.listen = "127.0.0.1:0".parse().unwrap();
    config.mqtt.username = SERVICE.into();
    let service_password = generate_device_password();
    let broker = mimamori_broker::start_embedded(&config, &t.store, &service_password)
        .await
        .unwrap();
    Running {
        t,
        broker,
        service_password,
    }
}

async fn add_device(store: &Store, id: &str, secret_hash: impl Fn(&str) -> String) -> String {
    let password = generate_device_password();
    store
        .add_device(
            &NewDevice {
                id: DeviceId::parse(id).unwrap(),
                resident: None,
                kind: DeviceKind::CallButton,
                label: None,
                external_id: None,
                heartbeat_interval_s: 300,
                secret_hash: secret_hash(&password),
                mac_key: device_mac_key(&password),
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    password
}

/// An MQTT 3.1.1 CONNECT, written by hand so that every field is what the test says.
fn connect_packet(client_id: &str, login: Option<(&str, &str)>, keep_alive: u16) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4];
    body.push(0x02 | if login.is_some() { 0xC0 } else { 0 });
    body.extend(keep_alive.to_be_bytes());
    let mut string = |s: &str| {
        body.extend((s.len() as u16).to_be_bytes());
        body.extend(s.as_bytes());
    };
    string(client_id);
    if let Some((u, p)) = login {
        string(u);
        string(p);
    }
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend(body);
    packet
}

/// Connects by hand and returns the socket and the CONNACK's return code.
async fn raw_connect(addr: SocketAddr, packet: &[u8]) -> (TcpStream, u8) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(packet).await.unwrap();
    let mut ack = [0u8; 4];
    tokio::time::timeout(WAIT, s.read_exact(&mut ack))
        .await
        .expect("CONNACK in time")
        .expect("a CONNACK");
    assert_eq!(ack[..2], [0x20, 0x02], "a CONNACK");
    (s, ack[3])
}

async fn keepalive_zero_is_accepted_and_a_second_connect_closes() {
    let r = running().await;
    let pw = add_device(&r.t.store, "btn-1", device_secret_hash).await;
    let packet = connect_packet("btn-1", Some(("btn-1", &pw)), 0);
    let (mut s, code) = raw_connect(r.broker.addr, &packet).await;
    assert_eq!(code, 0, "keep alive 0 means off, not refused");
    // A PINGREQ is still answered: the connection lives.
    s.write_all(&[0xC0, 0]).await.unwrap();
    let mut pong = [0u8; 2];
    tokio::time::timeout(WAIT, s.read_exact(&mut pong))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pong, [0xD0, 0]);
    // A second CONNECT on the same socket is a protocol violation: the server closes it.
    s.write_all(&packet).await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(WAIT, s.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(_)) | Ok(Err(_))), "closed in time");
    r.t.finish().await;
}

async fn a_connect_without_login_is_refused_with_code_5_and_counted() {
    let r = running().await;
    let pw = add_device(&r.t.store, "btn-1", device_secret_hash).await;
    for (packet, why) in [
        (connect_packet("btn-1", None, 30), Refusal::NoLogin),
        (
            connect_packet("btn-1", Some(("btn-1", "wrong")), 30),
            Refusal::WrongPassword,
        ),
        (
            connect_packet("someone-else", Some(("btn-1", &pw)), 30),
            Refusal::ClientIdMismatch,
        ),
        (
            connect_packet("nobody", Some(("nobody", "x")), 30),
            Refusal::Unknown,
        ),
        (
            connect_packet("mimamori-x", Some((SERVICE, "wrong")), 30),
            Refusal::ServiceAccount,
        ),
    ] {
        let (_, code) = raw_connect(r.broker.addr, &packet).await;
        assert_eq!(code, 5, "{why:?}: CONNACK 5, not authorized");
    }
    let (reports, _) = r.broker.security.take();
    let mut reasons: Vec<_> = reports.iter().map(|r| format!("{:?}", r.kind)).collect();
    reasons.sort();
    let mut expected: Vec<_> = [
        Refusal::ClientIdMismatch,
        Refusal::NoLogin,
        Refusal::ServiceAccount,
        Refusal::Unknown,
        Refusal::WrongPassword,
    ]
    .iter()
    .map(|r| format!("{:?}", mimamori_broker::security::Kind::Login(*r)))
    .collect();
    expected.sort();
    assert_eq!(reasons, expected);
    assert_eq!(r.broker.security.logins_refused.load(Ordering::Relaxed), 5);
    let (_, ok) = raw_connect(
        r.broker.addr,
        &connect_packet("mimamori-t", Some((SERVICE, &r.service_password)), 30),
    )
    .await;
    assert_eq!(ok, 0);
    r.t.finish().await;
}

fn client(addr: SocketAddr, id: &str, user: &str, pw: &str) -> (AsyncClient, rumqttc::EventLoop) {
    let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_credentials(user, pw)
        .set_keep_alive(Duration::from_secs(30));
    AsyncClient::new(o, 64)
}

/// Polls until `pred` holds for an event; panics on a connection error.
async fn until(ev: &mut rumqttc::EventLoop, mut pred: impl FnMut(&Event) -> bool) -> Event {
    tokio::time::timeout(WAIT, async {
        loop {
            let e = ev.poll().await.expect("connection");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("in time")
}

async fn messages_arrive_at_the_lower_of_publish_and_subscription_qos() {
    let r = running().await;
    let pw = add_device(&r.t.store, "btn-1", device_secret_hash).await;
    let (dev, mut dev_ev) = client(r.broker.addr, "btn-1", "btn-1", &pw);
    let receipts = "mimamori/v1/devices/btn-1/receipts";
    dev.subscribe(receipts, QoS::AtLeastOnce).await.unwrap();
    until(&mut dev_ev, |e| {
        matches!(e, Event::Incoming(Packet::SubAck(_)))
    })
    .await;
    let (svc, mut svc_ev) = client(r.broker.addr, "mimamori-t", SERVICE, &r.service_password);
    svc.publish(receipts, QoS::AtMostOnce, false, "zero")
        .await
        .unwrap();
    svc.publish(receipts, QoS::AtLeastOnce, false, "one")
        .await
        .unwrap();
    tokio::spawn(async move { while svc_ev.poll().await.is_ok() {} });
    let mut got = Vec::new();
    while got.len() < 2 {
        if let Event::Incoming(Packet::Publish(p)) = until(&mut dev_ev, |e| {
            matches!(e, Event::Incoming(Packet::Publish(_)))
        })
        .await
        {
            got.push((String::from_utf8(p.payload.to_vec()).unwrap(), p.qos));
        }
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            ("one".to_string(), QoS::AtLeastOnce),
            ("zero".to_string(), QoS::AtMostOnce)
        ],
        "a QoS 0 message stays QoS 0 on a QoS 1 subscription"
    );
    r.t.finish().await;
}

/// Whether the broker closes the connection within [`WAIT`].
async fn dropped(ev: &mut rumqttc::EventLoop) -> bool {
    tokio::time::timeout(WAIT, async { while ev.poll().await.is_ok() {} })
        .await
        .is_ok()
}

async fn a_disabled_or_rotated_device_is_dropped_while_connected() {
    let r = running().await;
    let store = r.t.store.clone();
    let id = DeviceId::parse("btn-1").unwrap();
    let pw = add_device(&store, "btn-1", device_secret_hash).await;
    let connected = |pw: String| async move {
        let (c, mut ev) = client(r.broker.addr, "btn-1", "btn-1", &pw);
        until(&mut ev, |e| {
            matches!(e, Event::Incoming(Packet::ConnAck(_)))
        })
        .await;
        (c, ev)
    };
    // Disabled: dropped at once, and refused after.
    let (_c, mut ev) = connected(pw.clone()).await;
    let started = Instant::now();
    store
        .set_device_enabled(&id, false, chrono::Utc::now())
        .await
        .unwrap();
    let gone = dropped(&mut ev).await;
    assert!(gone, "the connection was dropped");
    assert!(started.elapsed() < Duration::from_secs(5));
    let (_, code) = raw_connect(
        r.broker.addr,
        &connect_packet("btn-1", Some(("btn-1", &pw)), 30),
    )
    .await;
    assert_eq!(code, 5);
    // Enabled and given a new secret: the old connection goes, the new secret logs in.
    store
        .set_device_enabled(&id, true, chrono::Utc::now())
        .await
        .unwrap();
    let (_c, mut ev) = connected(pw.clone()).await;
    let new = generate_device_password();
    store
        .update_device_secret(
            &id,
            &device_secret_hash(&new),
            &device_mac_key(&new),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let gone = dropped(&mut ev).await;
    assert!(gone, "the connection with the old secret was dropped");
    let (_, old) = raw_connect(
        r.broker.addr,
        &connect_packet("btn-1", Some(("btn-1", &pw)), 30),
    )
    .await;
    assert_eq!(old, 5);
    let (_, fresh) = raw_connect(
        r.broker.addr,
        &connect_packet("btn-1", Some(("btn-1", &new)), 30),
    )
    .await;
    assert_eq!(fresh, 0);
    r.t.finish().await;
}

/// A partner whose token is revoked and an integration disabled lose their open connection, as a
/// device does: the broker reads the store's revocation feed.
async fn a_revoked_partner_or_integration_is_dropped_while_connected() {
    let r = running().await;
    let store = r.t.store.clone();
    let now = chrono::Utc::now;
    let token = mimamori_core::secret::generate_partner_token();
    store
        .add_partner(
            &NewPartner {
                id: PartnerId::parse("pt-post").unwrap(),
                name: "郵便局".into(),
                kind: PartnerKind::Post,
                agreement: None,
            },
            &token_hash(&token),
            now(),
        )
        .await
        .unwrap();
    let secret = Integration::generate_secret();
    store
        .add_integration(
            &NewIntegration {
                id: "int-city".into(),
                name: "市ケース管理".into(),
                district: None,
                secret_hash: token_hash(&secret),
            },
            now(),
        )
        .await
        .unwrap();
    for (login, password) in [("pt-post", &token), ("int-city", &secret)] {
        let (_c, mut ev) = client(r.broker.addr, login, login, password);
        until(&mut ev, |e| {
            matches!(e, Event::Incoming(Packet::ConnAck(_)))
        })
        .await;
        let started = Instant::now();
        if login == "pt-post" {
            store
                .revoke_partner_token(&token_hash(&token), now())
                .await
                .unwrap();
        } else {
            assert!(store.disable_integration(login, now()).await.unwrap());
        }
        assert!(dropped(&mut ev).await, "{login} was not dropped");
        assert!(started.elapsed() < Duration::from_secs(5));
        let (_, code) = raw_connect(
            r.broker.addr,
            &connect_packet(login, Some((login, password)), 30),
        )
        .await;
        assert_eq!(code, 5, "{login} logged in again after its revocation");
    }
    r.t.finish().await;
}

async fn an_argon2_device_hash_still_logs_in_and_becomes_fast() {
    let r = running().await;
    let hasher = PasswordHasherConfig::insecure_for_tests();
    let pw = add_device(&r.t.store, "old-1", |p| hasher.hash(p).unwrap()).await;
    let (_, wrong) = raw_connect(
        r.broker.addr,
        &connect_packet("old-1", Some(("old-1", "nope")), 30),
    )
    .await;
    assert_eq!(wrong, 5);
    let (_, ok) = raw_connect(
        r.broker.addr,
        &connect_packet("old-1", Some(("old-1", &pw)), 30),
    )
    .await;
    assert_eq!(ok, 0);
    let stored =
        r.t.store
            .get_device(&DeviceId::parse("old-1").unwrap())
            .await
            .unwrap()
            .unwrap()
            .secret_hash;
    assert_eq!(check_device_secret(&pw, &stored), DeviceSecretCheck::Valid);
    r.t.finish().await;
}

async fn repeated_failures_are_slowed_and_others_are_not() {
    let r = running().await;
    let _victim = add_device(&r.t.store, "btn-1", device_secret_hash).await;
    let honest = add_device(&r.t.store, "btn-2", device_secret_hash).await;
    let wrong = connect_packet("btn-1", Some(("btn-1", "guess")), 30);
    let mut last = Duration::ZERO;
    for _ in 0..6 {
        let t = Instant::now();
        let (_, code) = raw_connect(r.broker.addr, &wrong).await;
        assert_eq!(code, 5);
        last = t.elapsed();
    }
    assert!(
        last >= Duration::from_millis(300),
        "the 6th failure waited {last:?}"
    );
    // Meanwhile 50 guesses run at once; an honest device from the same address is not held up.
    let attackers: Vec<_> = (0..50)
        .map(|_| {
            let wrong = wrong.clone();
            let addr = r.broker.addr;
            tokio::spawn(async move { raw_connect(addr, &wrong).await.1 })
        })
        .collect();
    let t = Instant::now();
    let (_, ok) = raw_connect(
        r.broker.addr,
        &connect_packet("btn-2", Some(("btn-2", &honest)), 30),
    )
    .await;
    assert_eq!(ok, 0);
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "honest login took {:?}",
        t.elapsed()
    );
    for a in attackers {
        assert_eq!(a.await.unwrap(), 5);
    }
    r.t.finish().await;
}

mimamori_testkit::main!();

/// A QoS 1 PUBLISH of `payload` on btn-1's events topic with packet id 7, written by hand.
fn event_publish(payload: &[u8]) -> Vec<u8> {
    let topic = b"mimamori/v1/devices/btn-1/events";
    let mut body = (topic.len() as u16).to_be_bytes().to_vec();
    body.extend(topic);
    body.extend(7u16.to_be_bytes());
    body.extend(payload);
    let mut packet = vec![0x32, body.len() as u8];
    packet.extend(body);
    packet
}

/// btn-1 connected by hand and subscribed to its receipts at QoS 0.
async fn device_listening_for_receipts(r: &Running) -> TcpStream {
    let pw = add_device(&r.t.store, "btn-1", device_secret_hash).await;
    let (mut s, code) = raw_connect(
        r.broker.addr,
        &connect_packet("btn-1", Some(("btn-1", &pw)), 0),
    )
    .await;
    assert_eq!(code, 0);
    let topic = b"mimamori/v1/devices/btn-1/receipts";
    let mut body = vec![0, 1];
    body.extend((topic.len() as u16).to_be_bytes());
    body.extend(topic);
    body.push(0);
    let mut subscribe = vec![0x82, body.len() as u8];
    subscribe.extend(body);
    s.write_all(&subscribe).await.unwrap();
    let mut suback = [0u8; 5];
    tokio::time::timeout(WAIT, s.read_exact(&mut suback))
        .await
        .expect("SUBACK in time")
        .unwrap();
    assert_eq!(suback, [0x90, 3, 0, 1, 0], "subscribed at QoS 0");
    s
}

/// `broker.ack_hold_ms`: a device's PUBACK waits for the receipt its event brings and goes out
/// with it, in order (acknowledgement, then receipt); with no receipt it goes out alone once the
/// hold is up. The platform's own connection is acknowledged at once.
async fn a_devices_acknowledgement_goes_with_its_receipt_or_alone_when_none_comes() {
    let filters = vec!["mimamori/v1/devices/+/events".to_string()];
    // Held for a minute: only the receipt can send it within the test.
    let r = running_with(|c| c.broker.ack_hold_ms = 60_000).await;
    let mut dev = device_listening_for_receipts(&r).await;
    let (mut session, mut sender) = r
        .broker
        .local()
        .open("mimamori-gw", &filters, 100)
        .await
        .unwrap();
    dev.write_all(&event_publish(b"e0")).await.unwrap();
    let delivered = take(&mut session, 1, usize::MAX).await;
    assert_eq!(payloads(&delivered), ["e0"]);
    // The broker acknowledged the event before it handed it on; the device has nothing yet.
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(300), dev.read(&mut byte)).await;
    assert!(
        early.is_err(),
        "the PUBACK waits for the receipt: {early:?}"
    );
    sender
        .reply(
            &delivered,
            vec![mimamori_broker::local::Outgoing {
                topic: "mimamori/v1/devices/btn-1/receipts".into(),
                payload: b"r0".to_vec(),
                at_least_once: false,
            }],
        )
        .await
        .unwrap();
    let topic = b"mimamori/v1/devices/btn-1/receipts";
    let mut expected = vec![0x40, 2, 0, 7, 0x30, (2 + topic.len() + 2) as u8];
    expected.extend((topic.len() as u16).to_be_bytes());
    expected.extend(topic);
    expected.extend(b"r0");
    let mut got = vec![0u8; expected.len()];
    tokio::time::timeout(WAIT, dev.read_exact(&mut got))
        .await
        .expect("the PUBACK and the receipt in time")
        .unwrap();
    assert_eq!(got, expected, "PUBACK 7, then the receipt");
    // The platform's own connections publish in turn and are acknowledged at once.
    let (svc, mut svc_ev) = client(r.broker.addr, "mimamori-svc", SERVICE, &r.service_password);
    svc.publish("mimamori/v1/alerts/a/x", QoS::AtLeastOnce, false, "a")
        .await
        .unwrap();
    until(&mut svc_ev, |e| {
        matches!(e, Event::Incoming(Packet::PubAck(_)))
    })
    .await;
    r.t.finish().await;

    // No receipt comes: the acknowledgement goes alone once the hold is up.
    let r = running_with(|c| c.broker.ack_hold_ms = 200).await;
    let mut dev = device_listening_for_receipts(&r).await;
    let (mut session, _sender) = r
        .broker
        .local()
        .open("mimamori-gw", &filters, 100)
        .await
        .unwrap();
    let sent = Instant::now();
    dev.write_all(&event_publish(b"e1")).await.unwrap();
    assert_eq!(payloads(&take(&mut session, 1, usize::MAX).await), ["e1"]);
    let mut puback = [0u8; 4];
    tokio::time::timeout(WAIT, dev.read_exact(&mut puback))
        .await
        .expect("the PUBACK alone in time")
        .unwrap();
    assert_eq!(puback, [0x40, 2, 0, 7]);
    assert!(
        sent.elapsed() >= Duration::from_millis(200),
        "held for the configured time: {:?}",
        sent.elapsed()
    );
    r.t.finish().await;
}

/// At least `n` deliveries of `session`, asking each time for no more than `most` in all.
async fn take(
    session: &mut mimamori_broker::local::LocalReceiver,
    n: usize,
    most: usize,
) -> Vec<mimamori_broker::local::Delivery> {
    let mut got = Vec::new();
    while got.len() < n {
        tokio::time::timeout(WAIT, session.recv(&mut got, most))
            .await
            .expect("in time")
            .unwrap();
        assert!(got.len() <= most, "asked for {most}, got {}", got.len());
    }
    got
}

/// Events `e0`, `e1`, … (`n` of them) published by btn-1 at QoS 1, in order.
async fn publish_events(dev: &AsyncClient, n: usize) {
    for i in 0..n {
        dev.publish(
            "mimamori/v1/devices/btn-1/events",
            QoS::AtLeastOnce,
            false,
            format!("e{i}"),
        )
        .await
        .unwrap();
    }
}

/// The deliveries' payloads, as text.
fn payloads(d: &[mimamori_broker::local::Delivery]) -> Vec<String> {
    d.iter()
        .map(|d| String::from_utf8(d.payload.to_vec()).unwrap())
        .collect()
}

/// The gateway's session in process: a batch not acknowledged when the session ended is delivered
/// again to the next one of the same client id; an acknowledged batch is not; receipts published
/// through the session reach a device at the QoS asked for.
async fn a_local_session_gets_again_what_it_did_not_acknowledge() {
    let r = running().await;
    let pw = add_device(&r.t.store, "btn-1", device_secret_hash).await;
    let (dev, mut dev_ev) = client(r.broker.addr, "btn-1", "btn-1", &pw);
    let local = r.broker.local();
    let filters = vec!["mimamori/v1/devices/+/events".to_string()];
    let (mut session, sender) = local.open("mimamori-gw", &filters, 1000).await.unwrap();
    dev.subscribe("mimamori/v1/devices/btn-1/receipts", QoS::AtLeastOnce)
        .await
        .unwrap();
    publish_events(&dev, 5).await;
    let (to_test, mut receipts_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(e) = dev_ev.poll().await {
            if let Event::Incoming(Packet::Publish(p)) = e {
                let _ = to_test.send((String::from_utf8(p.payload.to_vec()).unwrap(), p.qos));
            }
        }
    });
    let first = take(&mut session, 5, usize::MAX).await;
    assert_eq!(payloads(&first), ["e0", "e1", "e2", "e3", "e4"]);
    sender.close().await;

    let (mut session, mut sender) = local.open("mimamori-gw", &filters, 1000).await.unwrap();
    let again = take(&mut session, 5, usize::MAX).await;
    assert_eq!(
        payloads(&again),
        ["e0", "e1", "e2", "e3", "e4"],
        "what was not acknowledged is delivered again"
    );
    let receipt = |payload: &str, at_least_once| mimamori_broker::local::Outgoing {
        topic: "mimamori/v1/devices/btn-1/receipts".into(),
        payload: payload.as_bytes().to_vec(),
        at_least_once,
    };
    sender
        .reply(&again, vec![receipt("r0", false), receipt("r1", true)])
        .await
        .unwrap();
    let mut receipts = Vec::new();
    while receipts.len() < 2 {
        let r = tokio::time::timeout(WAIT, receipts_rx.recv()).await;
        receipts.push(r.expect("receipts in time").expect("device connected"));
    }
    receipts.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        receipts,
        [
            ("r0".to_string(), QoS::AtMostOnce),
            ("r1".to_string(), QoS::AtLeastOnce)
        ]
    );
    sender.close().await;

    let (mut session, _sender) = local.open("mimamori-gw", &filters, 1000).await.unwrap();
    dev.publish(
        "mimamori/v1/devices/btn-1/events",
        QoS::AtLeastOnce,
        false,
        "e5",
    )
    .await
    .unwrap();
    assert_eq!(
        payloads(&take(&mut session, 1, usize::MAX).await),
        ["e5"],
        "an acknowledged batch is not delivered again"
    );
    r.t.finish().await;
}

/// The gateway takes half its window a batch, so that the next half is in hand while it stores
/// the first: a session asked for at most 4 of 8 waiting messages gets exactly 4, and the other 4
/// at the next call without having acknowledged anything; a ninth, past the window, comes once
/// the first 4 are acknowledged.
async fn a_local_session_takes_at_most_what_it_asks_and_the_rest_before_acknowledging() {
    let r = running().await;
    let pw = add_device(&r.t.store, "btn-1", device_secret_hash).await;
    let (dev, mut dev_ev) = client(r.broker.addr, "btn-1", "btn-1", &pw);
    let local = r.broker.local();
    let filters = vec!["mimamori/v1/devices/+/events".to_string()];
    let (mut session, mut sender) = local.open("mimamori-gw", &filters, 8).await.unwrap();
    publish_events(&dev, 9).await;
    for _ in 0..9 {
        until(&mut dev_ev, |e| {
            matches!(e, Event::Incoming(Packet::PubAck(_)))
        })
        .await;
    }
    tokio::spawn(async move { while dev_ev.poll().await.is_ok() {} });
    let first = take(&mut session, 4, 4).await;
    assert_eq!(payloads(&first), ["e0", "e1", "e2", "e3"]);
    let second = take(&mut session, 4, 4).await;
    assert_eq!(payloads(&second), ["e4", "e5", "e6", "e7"]);
    sender.reply(&first, Vec::new()).await.unwrap();
    assert_eq!(
        payloads(&take(&mut session, 1, 1).await),
        ["e8"],
        "the window moved on"
    );
    r.t.finish().await;
}

/// Polls the broker's count of held messages until `pred` holds, as of a release at least the
/// `nth` after this call (the second began after the call; the first may have begun before it;
/// releases stop once nothing is held and nothing happens); panics after [`WAIT`].
async fn held_until(
    broker: &mimamori_broker::EmbeddedBroker,
    nth: u64,
    pred: impl Fn(u64) -> bool,
) -> u64 {
    let deadline = Instant::now() + WAIT;
    let since = broker.releases();
    loop {
        let releases = broker.releases();
        let held = broker.held_messages();
        if releases >= since + nth && pred(held) {
            return held;
        }
        assert!(Instant::now() < deadline, "held messages stayed at {held}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The broker frees what every reader has read (rumqttd patch), and only that: events the
/// gateway's persistent session took and did not acknowledge stay held while it is away and are
/// delivered again in full when it comes back, while a device's receipts, once delivered, are
/// released; once the gateway acknowledges, nothing is held. Before the patch every message stayed
/// in memory until 160 MB per topic filter had pushed it out.
async fn what_every_reader_has_read_is_released_and_an_absent_session_keeps_its_own() {
    let r = running().await;
    let pw1 = add_device(&r.t.store, "btn-1", device_secret_hash).await;
    let pw2 = add_device(&r.t.store, "btn-2", device_secret_hash).await;
    let (dev, mut dev_ev) = client(r.broker.addr, "btn-1", "btn-1", &pw1);
    tokio::spawn(async move { while dev_ev.poll().await.is_ok() {} });
    let (reader, mut reader_ev) = client(r.broker.addr, "btn-2", "btn-2", &pw2);
    let receipts2 = "mimamori/v1/devices/btn-2/receipts";
    reader.subscribe(receipts2, QoS::AtMostOnce).await.unwrap();
    until(&mut reader_ev, |e| {
        matches!(e, Event::Incoming(Packet::SubAck(_)))
    })
    .await;
    let local = r.broker.local();
    let filters = vec!["mimamori/v1/devices/+/events".to_string()];
    let (mut session, sender) = local.open("mimamori-gw", &filters, 1000).await.unwrap();
    const EVENTS: usize = 200;
    publish_events(&dev, EVENTS).await;
    assert_eq!(take(&mut session, EVENTS, usize::MAX).await.len(), EVENTS);
    held_until(&r.broker, 1, |h| h >= EVENTS as u64).await;
    sender.close().await;

    // Receipts for btn-2, delivered while the gateway is away: released once read.
    let (_, mut svc) = local.open("mimamori-svc", &[], 1000).await.unwrap();
    let receipts: Vec<_> = (0..50)
        .map(|i| mimamori_broker::local::Outgoing {
            topic: receipts2.into(),
            payload: format!("r{i}").into_bytes(),
            at_least_once: false,
        })
        .collect();
    svc.reply(&[], receipts).await.unwrap();
    for _ in 0..50 {
        until(&mut reader_ev, |e| {
            matches!(e, Event::Incoming(Packet::Publish(_)))
        })
        .await;
    }
    let held = held_until(&r.broker, 2, |h| h <= EVENTS as u64).await;
    assert_eq!(
        held, EVENTS as u64,
        "the receipts read are released; the absent gateway's events are kept"
    );

    let (mut session, mut sender) = local.open("mimamori-gw", &filters, 1000).await.unwrap();
    let again = take(&mut session, EVENTS, usize::MAX).await;
    let expected: Vec<String> = (0..EVENTS).map(|i| format!("e{i}")).collect();
    assert_eq!(
        payloads(&again),
        expected,
        "every event again, in order, none lost"
    );
    sender.reply(&again, Vec::new()).await.unwrap();
    held_until(&r.broker, 1, |h| h == 0).await;
    r.t.finish().await;
}
