//! The platform's own session on the embedded broker without a socket: a link straight to
//! rumqttd's router, for the gateway in the same process as the broker (`mimamori up`).
//!
//! Over TCP on loopback every acknowledgement and receipt was a packet encoded, written and
//! flushed by the client and read and decoded by the broker, and the broker's window of 100
//! unacknowledged messages made the gateway wait for each batch's round trip (issue 15). A local
//! link hands over whole batches: what the router queued since the last look arrives at once, and
//! the batch's acknowledgements and receipts go back in one push.
//!
//! The session is persistent (clean session off) under the gateway's client id, as over TCP: if
//! the link is rebuilt, the router delivers again what was not acknowledged.

use bytes::Bytes;
use rumqttd::Notification;
use rumqttd::local::{LinkError, LinkRx, LinkTx};
use rumqttd::protocol::{
    Disconnect, DisconnectReasonCode, Filter, Packet, PubAck, PubAckReason, Publish, QoS,
    RetainForwardRule, Subscribe,
};
use std::collections::VecDeque;

/// Opens local sessions on a running embedded broker. Cheap to clone.
#[derive(Clone)]
pub struct Local {
    linker: rumqttd::Linker,
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Local")
    }
}

/// Why a local session stopped: the router is gone or dropped the link.
#[derive(Debug, thiserror::Error)]
#[error("the embedded broker's local link failed: {0}")]
pub struct LocalError(String);

impl From<LinkError> for LocalError {
    fn from(e: LinkError) -> Self {
        Self(e.to_string())
    }
}

/// One message the router delivered, to be acknowledged with [`LocalSession::reply`].
#[derive(Debug, Clone)]
pub struct Delivery {
    pub topic: String,
    pub payload: Bytes,
    /// Packet id of a QoS 1 delivery; `None` at QoS 0 (nothing to acknowledge).
    pkid: Option<u16>,
}

/// A message the session publishes.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub topic: String,
    pub payload: Vec<u8>,
    /// QoS 1 (delivered at QoS 1 to QoS 1 subscribers); else QoS 0.
    pub at_least_once: bool,
}

impl Local {
    pub(crate) fn new(linker: rumqttd::Linker) -> Self {
        Self { linker }
    }

    /// The persistent session of `client_id`, subscribed at QoS 1 to `filters`, with at most
    /// `window` delivered messages unacknowledged: its receiving and its sending half. A session
    /// of the same client id that is open is taken over, as a second CONNECT over TCP would.
    pub async fn open(
        &self,
        client_id: &str,
        filters: &[String],
        window: usize,
    ) -> Result<(LocalReceiver, LocalSender), LocalError> {
        let (mut tx, rx, _connack) = self
            .linker
            .builder(client_id)
            .clean_session(false)
            .dynamic_filters(true)
            .max_inflight(window)
            .build_async()
            .await?;
        let filters = filters
            .iter()
            .map(|path| Filter {
                path: path.clone(),
                qos: QoS::AtLeastOnce,
                nolocal: false,
                preserve_retain: false,
                retain_forward_rule: RetainForwardRule::Never,
            })
            .collect();
        tx.send(Packet::Subscribe(Subscribe { pkid: 1, filters }, None))
            .await?;
        Ok((
            LocalReceiver {
                rx,
                notifications: VecDeque::new(),
            },
            LocalSender { tx, next_pkid: 0 },
        ))
    }
}

/// What a session opened by [`Local::open`] receives.
pub struct LocalReceiver {
    rx: LinkRx,
    notifications: VecDeque<Notification>,
}

/// What a session opened by [`Local::open`] sends: acknowledgements and publishes.
pub struct LocalSender {
    tx: LinkTx,
    /// Last packet id of a QoS 1 publish of ours.
    next_pkid: u16,
}

impl LocalReceiver {
    /// Waits for deliveries and appends to `out` what the router has queued: at least one, until
    /// `out` holds `most` (at once if it holds that many already); the rest stays for the next
    /// call, which takes it without waiting. A gateway that takes half its window a batch has
    /// the next half in hand while it stores the first: taking the whole window at once, it got
    /// nothing more before that batch was acknowledged, and its checks of the next batch waited
    /// for the storing of the last.
    pub async fn recv(&mut self, out: &mut Vec<Delivery>, most: usize) -> Result<(), LocalError> {
        let had = out.len();
        loop {
            while out.len() < most {
                let Some(notification) = self.notifications.pop_front() else {
                    break;
                };
                match notification {
                    Notification::Forward(forward) => {
                        let publish = forward.publish;
                        let Ok(topic) = String::from_utf8(publish.topic.to_vec()) else {
                            // rumqttd checks topics are UTF-8 when they are published.
                            continue;
                        };
                        out.push(Delivery {
                            topic,
                            payload: publish.payload,
                            pkid: (publish.qos != QoS::AtMostOnce).then_some(publish.pkid),
                        });
                    }
                    Notification::Disconnect(..) => {
                        return Err(LocalError("the router closed the session".into()));
                    }
                    // Acknowledgements of our subscriptions and publishes.
                    _ => {}
                }
            }
            if out.len() > had || out.len() >= most {
                return Ok(());
            }
            // Only with nothing left over: the exchange swaps our queue with the router's.
            self.rx.exchange(&mut self.notifications).await?;
            let before = self.notifications.len();
            self.notifications
                .retain(|n| !matches!(n, Notification::Unschedule));
            if self.notifications.len() < before {
                // The router stopped filling our queue until we say we took it: we did, and what
                // it sends next is still bounded by the window.
                self.rx.wake().await?;
            }
        }
    }
}

impl LocalSender {
    /// Publishes `publish` and acknowledges `done` (in the order delivered), in one push to the
    /// router.
    pub async fn reply(
        &mut self,
        done: &[Delivery],
        publish: Vec<Outgoing>,
    ) -> Result<(), LocalError> {
        {
            let mut buffer = self.tx.buffer();
            for message in publish {
                let qos = if message.at_least_once {
                    self.next_pkid = self.next_pkid.checked_add(1).unwrap_or(1);
                    QoS::AtLeastOnce
                } else {
                    QoS::AtMostOnce
                };
                let pkid = if message.at_least_once {
                    self.next_pkid
                } else {
                    0
                };
                buffer.push_back(Packet::Publish(
                    Publish {
                        dup: false,
                        qos,
                        retain: false,
                        topic: Bytes::from(message.topic),
                        pkid,
                        payload: Bytes::from(message.payload),
                    },
                    None,
                ));
            }
            for pkid in done.iter().filter_map(|d| d.pkid) {
                buffer.push_back(Packet::PubAck(
                    PubAck {
                        pkid,
                        reason: PubAckReason::Success,
                    },
                    None,
                ));
            }
        }
        self.tx.notify().await?;
        Ok(())
    }

    /// Ends the session's link; the router keeps the session (and what is unacknowledged) for
    /// the next [`Local::open`] of the same client id. A session dropped without this is taken
    /// over by that open all the same.
    pub async fn close(mut self) {
        let disconnect = Disconnect {
            reason_code: DisconnectReasonCode::NormalDisconnection,
        };
        let _ = self.tx.send(Packet::Disconnect(disconnect, None)).await;
    }
}
