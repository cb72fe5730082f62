//! What each login may do with topics on the embedded broker.
//!
//! | login | publish | subscribe |
//! |---|---|---|
//! | the platform (`[mqtt]` service account, client ids `mimamori-…`) | everything | everything |
//! | a device `D` | `mimamori/v1/devices/D/events`, `…/D/status` (also its last will) | `…/D/receipts`, `…/D/reminders` |
//! | a hub device (`--kind hub`, e.g. a zigbee2mqtt bridge) | as a device, and `{gateway.zigbee2mqtt_topic}/#` | as a device, and `{zigbee2mqtt_topic}/#` |
//! | a partner `P` | `mimamori/v1/partners/P/concerns` | `mimamori/v1/partners/P/receipts` |
//! | an integration (of district `d`) | nothing | `mimamori/v1/alerts/#` (`mimamori/v1/alerts/d/#`) |
//!
//! A subscription is granted only when every topic its filter can match is allowed: `#`, `+/…`
//! or another device's topics are refused with SUBACK 0x80. A refused publish is acknowledged
//! and dropped. Each refusal is reported to [`crate::security::SecurityEvents`].

use crate::security::{Kind, SecurityEvents};
use mimamori_core::topic::PREFIX;
use rumqttd::{RightsRefusal, TopicRights};
use std::sync::Arc;

/// The topic rights of one connection.
#[derive(Debug)]
pub struct Rights {
    /// Who, for reports: the username.
    login: String,
    publish: Vec<String>,
    subscribe: Vec<String>,
    /// The platform itself: no checks.
    unrestricted: bool,
    /// A device that is sent a receipt for each event: its PUBACKs may wait for them.
    receipted: bool,
    events: Arc<SecurityEvents>,
}

/// Who logged in, as far as topics are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    Service,
    Device { id: String, hub: bool },
    Partner { id: String },
    Integration { district: Option<String> },
}

impl Rights {
    /// The rights of `login` (username `username`); `zigbee2mqtt_topic` is the hub's base topic
    /// (empty: hubs get only their device topics).
    pub fn of(
        login: &Login,
        username: &str,
        zigbee2mqtt_topic: &str,
        events: Arc<SecurityEvents>,
    ) -> Self {
        let (publish, subscribe) = match login {
            Login::Service => (vec![], vec![]),
            Login::Device { id, hub } => {
                let own = |leaf: &str| format!("{PREFIX}/devices/{id}/{leaf}");
                let mut publish = vec![own("events"), own("status")];
                let mut subscribe = vec![own("receipts"), own("reminders")];
                if *hub && !zigbee2mqtt_topic.is_empty() {
                    publish.push(format!("{zigbee2mqtt_topic}/#"));
                    subscribe.push(format!("{zigbee2mqtt_topic}/#"));
                }
                (publish, subscribe)
            }
            Login::Partner { id } => (
                vec![format!("{PREFIX}/partners/{id}/concerns")],
                vec![format!("{PREFIX}/partners/{id}/receipts")],
            ),
            Login::Integration { district } => (
                vec![],
                vec![match district {
                    Some(d) => format!("{PREFIX}/alerts/{d}/#"),
                    None => format!("{PREFIX}/alerts/#"),
                }],
            ),
        };
        Self {
            login: username.to_string(),
            publish,
            subscribe,
            unrestricted: *login == Login::Service,
            // Not a hub: what it relays for zigbee2mqtt gets no receipt, and a hub that waits
            // for each PUBACK would be slowed.
            receipted: matches!(login, Login::Device { hub: false, .. }),
            events,
        }
    }
}

impl TopicRights for Rights {
    fn hold_acks(&self) -> bool {
        self.receipted
    }

    fn may_publish(&self, topic: &str) -> bool {
        self.unrestricted
            || (!topic.contains(['+', '#'])
                && self.publish.iter().any(|allowed| covers(allowed, topic)))
    }

    fn may_subscribe(&self, filter: &str) -> bool {
        self.unrestricted || self.subscribe.iter().any(|allowed| covers(allowed, filter))
    }

    fn refused(&self, refusal: RightsRefusal<'_>) {
        let (kind, topic) = match refusal {
            RightsRefusal::Publish(t) => (Kind::Publish, t),
            RightsRefusal::Subscribe(t) => (Kind::Subscribe, t),
            RightsRefusal::LastWill(t) => (Kind::LastWill, t),
        };
        self.events.topic_refused(&self.login, kind, topic);
    }
}

/// One login of an external broker that has no patterns (NATS): who, with which password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalLogin {
    pub username: String,
    pub login: Login,
    /// As the broker's configuration takes it: plain, or a bcrypt hash (`$2a$…`) for NATS.
    pub password: String,
}

/// The `authorization` block of a NATS server (2.9 or later, its MQTT listener on) that gives
/// every login the rights of the table above, each a user of its own with `publish` and
/// `subscribe` permissions (NATS has no per-username patterns outside its JWT mode). MQTT topics
/// are NATS subjects with `/` as `.`, `+` as `*` and `#` as `>`; every login that subscribes may
/// also subscribe to `$MQTT.sub.>`, the subjects through which the server delivers a session's
/// QoS 1 messages (an MQTT client cannot name them: NATS refuses MQTT filters that begin with
/// `$`). Names that a NATS subject cannot carry (`.`, spaces, wildcards) are left out, with a
/// comment saying so.
pub fn nats_authorization(
    service_username: &str,
    service_password: &str,
    zigbee2mqtt_topic: &str,
    logins: &[ExternalLogin],
) -> String {
    let events = Arc::new(SecurityEvents::new());
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let subjects = |filters: &[String]| -> Option<Vec<String>> {
        filters
            .iter()
            .map(|f| {
                let levels: Option<Vec<&str>> = f
                    .split('/')
                    .map(|l| match l {
                        "+" => Some("*"),
                        "#" => Some(">"),
                        l if l.is_empty() || l.contains(['.', ' ', '*', '>', '$']) => None,
                        l => Some(l),
                    })
                    .collect();
                levels.map(|l| l.join("."))
            })
            .collect()
    };
    let list = |items: &[String]| {
        items
            .iter()
            .map(|s| quoted(s))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = format!(
        "# mimamori: users and topic rights for NATS (2.9+, mqtt listener on), made by\n\
         # `mimamori admin nats-authorization`. The same rights as on the embedded broker\n\
         # (docs/SECURITY.md). Make it again after adding a device, partner or integration, and\n\
         # reload NATS (nats-server --signal reload).\nauthorization {{\n  users: [\n    \
         {{ user: {}, password: {}, permissions: {{ publish: \">\", subscribe: \">\" }} }}\n",
        quoted(service_username),
        quoted(service_password)
    );
    for l in logins {
        let r = Rights::of(&l.login, &l.username, zigbee2mqtt_topic, events.clone());
        let (Some(publish), Some(mut subscribe)) = (subjects(&r.publish), subjects(&r.subscribe))
        else {
            out.push_str(&format!(
                "    # left out: {} (its topics cannot be NATS subjects)\n",
                quoted(&l.username)
            ));
            continue;
        };
        // An MQTT filter `a/#` also matches `a` itself: NATS subscribes to both subjects.
        let parents: Vec<String> = subscribe
            .iter()
            .filter_map(|s| s.strip_suffix(".>").map(String::from))
            .collect();
        subscribe.extend(parents);
        if !subscribe.is_empty() {
            subscribe.push("$MQTT.sub.>".into());
        }
        // Nothing: an allow list naming a subject nobody uses. (`deny: ">"` would also deny the
        // server's own JetStream requests made for this client, and with them its subscriptions.)
        let deny_all = |v: &[String]| {
            if v.is_empty() {
                "{ allow: [\"mimamori.nothing\"] }".to_string()
            } else {
                format!("{{ allow: [{}] }}", list(v))
            }
        };
        out.push_str(&format!(
            "    {{ user: {}, password: {}, permissions: {{ publish: {}, subscribe: {} }} }}\n",
            quoted(&l.username),
            quoted(&l.password),
            deny_all(&publish),
            deny_all(&subscribe),
        ));
    }
    out.push_str("  ]\n}\n");
    out
}

/// The Mosquitto `acl_file` that gives every login the rights of the table above: the platform
/// by its username, devices and partners by `pattern` rules on their username (`%u`), hubs and
/// integrations by rules of their own (`hubs`: device ids; `integrations`: id and district).
/// Made from the same lists as the embedded broker's checks.
pub fn mosquitto_acl(
    service_username: &str,
    zigbee2mqtt_topic: &str,
    hubs: &[String],
    integrations: &[(String, Option<String>)],
) -> String {
    let events = Arc::new(SecurityEvents::new());
    // `{keyword} write|read {topic}` lines of a login's rights, leaving out `ignore`.
    let lines = |keyword: &str, login: &Login, name: &str, ignore: &[String]| {
        let r = Rights::of(login, name, zigbee2mqtt_topic, events.clone());
        let mut out = String::new();
        for (access, topics) in [("write", &r.publish), ("read", &r.subscribe)] {
            for t in topics.iter().filter(|t| !ignore.contains(t)) {
                out.push_str(&format!("{keyword} {access} {t}\n"));
            }
        }
        out
    };
    let mut acl = format!(
        "# mimamori: topic rights for Mosquitto (acl_file), made by `mimamori admin mosquitto-acl`.\n\
         # The same rights as on the embedded broker (docs/SECURITY.md). Make it again after adding\n\
         # a hub or an integration, then reload Mosquitto (SIGHUP).\n\n\
         # The platform.\nuser {service_username}\ntopic readwrite #\n\n\
         # Every device and partner: its own topics (%u: its username, which is its client id).\n"
    );
    let device = Login::Device {
        id: "%u".into(),
        hub: false,
    };
    acl.push_str(&lines("pattern", &device, "%u", &[]));
    acl.push_str(&lines(
        "pattern",
        &Login::Partner { id: "%u".into() },
        "%u",
        &[],
    ));
    for hub in hubs {
        let own = Rights::of(
            &Login::Device {
                id: hub.clone(),
                hub: false,
            },
            hub,
            zigbee2mqtt_topic,
            events.clone(),
        );
        let mut ignore = own.publish.clone();
        ignore.extend(own.subscribe.clone());
        acl.push_str(&format!(
            "\n# Hub {hub}: its bridge's topics too.\nuser {hub}\n"
        ));
        acl.push_str(&lines(
            "topic",
            &Login::Device {
                id: hub.clone(),
                hub: true,
            },
            hub,
            &ignore,
        ));
    }
    for (id, district) in integrations {
        acl.push_str(&format!(
            "\n# Integration {id}: reads alerts only.\nuser {id}\n"
        ));
        acl.push_str(&lines(
            "topic",
            &Login::Integration {
                district: district.clone(),
            },
            id,
            &[],
        ));
    }
    acl
}

/// Whether every topic `filter` can match is matched by `allowed` (both MQTT filters; a topic is
/// a filter without wildcards).
pub fn covers(allowed: &str, filter: &str) -> bool {
    let mut allowed = allowed.split('/');
    let mut filter = filter.split('/');
    loop {
        match (allowed.next(), filter.next()) {
            (Some("#"), _) => return true,
            (Some(_), Some("#")) => return false,
            (Some("+"), Some(_)) => {}
            (Some(_), Some("+")) => return false,
            (Some(a), Some(f)) if a == f => {}
            (Some(_), Some(_)) => return false,
            // `a/b/#` matches `a/b` too.
            (Some(a), None) => return a == "#",
            (None, Some(_)) => return false,
            (None, None) => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rights(login: Login, username: &str) -> Rights {
        Rights::of(
            &login,
            username,
            "zigbee2mqtt",
            Arc::new(SecurityEvents::new()),
        )
    }

    #[test]
    fn the_nats_authorization_gives_each_login_its_own_subjects() {
        let login = |username: &str, login: Login| ExternalLogin {
            username: username.into(),
            login,
            password: format!("pw-{username}"),
        };
        let text = nats_authorization(
            "mimamori-service",
            "svc\"pw",
            "zigbee2mqtt",
            &[
                login(
                    "btn-1",
                    Login::Device {
                        id: "btn-1".into(),
                        hub: false,
                    },
                ),
                login(
                    "hub-1",
                    Login::Device {
                        id: "hub-1".into(),
                        hub: true,
                    },
                ),
                login(
                    "p-post",
                    Login::Partner {
                        id: "p-post".into(),
                    },
                ),
                login(
                    "int-katase",
                    Login::Integration {
                        district: Some("katase".into()),
                    },
                ),
                login(
                    "bad.name",
                    Login::Device {
                        id: "bad.name".into(),
                        hub: false,
                    },
                ),
            ],
        );
        for line in [
            r#"{ user: "mimamori-service", password: "svc\"pw", permissions: { publish: ">", subscribe: ">" } }"#,
            r#"{ user: "btn-1", password: "pw-btn-1", permissions: { publish: { allow: ["mimamori.v1.devices.btn-1.events", "mimamori.v1.devices.btn-1.status"] }, subscribe: { allow: ["mimamori.v1.devices.btn-1.receipts", "mimamori.v1.devices.btn-1.reminders", "$MQTT.sub.>"] } } }"#,
            r#"{ user: "hub-1", password: "pw-hub-1", permissions: { publish: { allow: ["mimamori.v1.devices.hub-1.events", "mimamori.v1.devices.hub-1.status", "zigbee2mqtt.>"] }, subscribe: { allow: ["mimamori.v1.devices.hub-1.receipts", "mimamori.v1.devices.hub-1.reminders", "zigbee2mqtt.>", "zigbee2mqtt", "$MQTT.sub.>"] } } }"#,
            r#"{ user: "p-post", password: "pw-p-post", permissions: { publish: { allow: ["mimamori.v1.partners.p-post.concerns"] }, subscribe: { allow: ["mimamori.v1.partners.p-post.receipts", "$MQTT.sub.>"] } } }"#,
            r#"{ user: "int-katase", password: "pw-int-katase", permissions: { publish: { allow: ["mimamori.nothing"] }, subscribe: { allow: ["mimamori.v1.alerts.katase.>", "mimamori.v1.alerts.katase", "$MQTT.sub.>"] } } }"#,
            r#"# left out: "bad.name" (its topics cannot be NATS subjects)"#,
        ] {
            assert!(
                text.lines().any(|l| l.trim() == line),
                "{line}\nnot in\n{text}"
            );
        }
    }

    #[test]
    fn the_mosquitto_acl_says_what_the_embedded_broker_checks() {
        let acl = mosquitto_acl(
            "mimamori-service",
            "zigbee2mqtt",
            &["z2m-bridge".into()],
            &[
                ("int-city".into(), None),
                ("int-katase".into(), Some("katase".into())),
            ],
        );
        for line in [
            "user mimamori-service\ntopic readwrite #\n",
            "pattern write mimamori/v1/devices/%u/events\n",
            "pattern write mimamori/v1/devices/%u/status\n",
            "pattern read mimamori/v1/devices/%u/receipts\n",
            "pattern read mimamori/v1/devices/%u/reminders\n",
            "pattern write mimamori/v1/partners/%u/concerns\n",
            "pattern read mimamori/v1/partners/%u/receipts\n",
            "user z2m-bridge\ntopic write zigbee2mqtt/#\ntopic read zigbee2mqtt/#\n",
            "user int-city\ntopic read mimamori/v1/alerts/#\n",
            "user int-katase\ntopic read mimamori/v1/alerts/katase/#\n",
        ] {
            assert!(acl.contains(line), "{line:?} in\n{acl}");
        }
        assert_eq!(acl.matches("readwrite").count(), 1, "only the platform");
    }

    #[test]
    fn a_filter_is_covered_only_when_all_it_matches_is() {
        assert!(covers("a/b/c", "a/b/c"));
        assert!(!covers("a/b/c", "a/b/+"));
        assert!(!covers("a/b/c", "a/#"));
        assert!(!covers("a/b/c", "#"));
        assert!(covers("a/#", "a/b/c"));
        assert!(covers("a/#", "a/+/c"));
        assert!(covers("a/#", "a/#"));
        assert!(covers("a/#", "a"));
        assert!(!covers("a/#", "+/b"));
        assert!(!covers("a/#", "#"));
        assert!(covers("a/+/c", "a/x/c"));
        assert!(covers("a/+/c", "a/+/c"));
        assert!(!covers("a/+/c", "a/#"));
        assert!(!covers("a/b", "a/b/c"));
        assert!(!covers("a/b/c", "a/b"));
    }

    #[test]
    fn a_device_uses_only_its_own_topics() {
        let r = rights(
            Login::Device {
                id: "btn-1".into(),
                hub: false,
            },
            "btn-1",
        );
        assert!(r.may_publish("mimamori/v1/devices/btn-1/events"));
        assert!(r.may_publish("mimamori/v1/devices/btn-1/status"));
        assert!(!r.may_publish("mimamori/v1/devices/btn-2/events"));
        assert!(!r.may_publish("mimamori/v1/devices/btn-1/receipts"));
        assert!(!r.may_publish("mimamori/v1/alerts/katase/2"));
        assert!(!r.may_publish("zigbee2mqtt/bedroom_button"));
        assert!(r.may_subscribe("mimamori/v1/devices/btn-1/receipts"));
        assert!(r.may_subscribe("mimamori/v1/devices/btn-1/reminders"));
        for f in [
            "#",
            "mimamori/#",
            "mimamori/v1/devices/+/receipts",
            "mimamori/v1/devices/btn-1/#",
            "mimamori/v1/devices/btn-2/receipts",
            "mimamori/v1/alerts/#",
        ] {
            assert!(!r.may_subscribe(f), "{f}");
        }
    }

    #[test]
    fn a_hub_adds_its_base_topic_and_nothing_else() {
        let r = rights(
            Login::Device {
                id: "z2m".into(),
                hub: true,
            },
            "z2m",
        );
        assert!(r.may_publish("zigbee2mqtt/bedroom_button"));
        assert!(r.may_subscribe("zigbee2mqtt/#"));
        assert!(!r.may_publish("zigbee2mqttx/a"));
        assert!(!r.may_subscribe("#"));
        let off = Rights::of(
            &Login::Device {
                id: "z2m".into(),
                hub: true,
            },
            "z2m",
            "",
            Arc::new(SecurityEvents::new()),
        );
        assert!(!off.may_publish("zigbee2mqtt/bedroom_button"));
        assert!(!off.may_subscribe("#"));
    }

    #[test]
    fn partners_and_integrations_have_their_own_corner() {
        let p = rights(
            Login::Partner {
                id: "p-post".into(),
            },
            "p-post",
        );
        assert!(p.may_publish("mimamori/v1/partners/p-post/concerns"));
        assert!(!p.may_publish("mimamori/v1/partners/p-other/concerns"));
        assert!(p.may_subscribe("mimamori/v1/partners/p-post/receipts"));
        assert!(!p.may_subscribe("mimamori/v1/partners/+/receipts"));
        assert!(!p.may_subscribe("mimamori/v1/alerts/#"));

        let city = rights(Login::Integration { district: None }, "int-a");
        assert!(city.may_subscribe("mimamori/v1/alerts/#"));
        assert!(city.may_subscribe("mimamori/v1/alerts/katase/+"));
        assert!(!city.may_subscribe("mimamori/#"));
        assert!(!city.may_publish("mimamori/v1/alerts/katase/2"));
        let katase = rights(
            Login::Integration {
                district: Some("katase".into()),
            },
            "int-b",
        );
        assert!(katase.may_subscribe("mimamori/v1/alerts/katase/#"));
        assert!(!katase.may_subscribe("mimamori/v1/alerts/#"));
        assert!(!katase.may_subscribe("mimamori/v1/alerts/+/2"));
        assert!(!katase.may_subscribe("mimamori/v1/alerts/kugenuma/#"));

        let platform = rights(Login::Service, "svc");
        assert!(platform.may_publish("mimamori/v1/alerts/katase/2"));
        assert!(platform.may_subscribe("#"));
    }
}
