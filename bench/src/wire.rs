//! The few MQTT 3.1.1 packets a connecting (and publishing) client needs, written straight to a
//! TCP stream.
//!
//! The reconnect benchmark opens ten thousand connections at once; a full client (an event loop,
//! request channels and buffers per connection) would cost the machine more than the broker it
//! measures. A CONNECT, its CONNACK and a DISCONNECT are all a reconnecting device sends first.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A DISCONNECT packet: the client is leaving (no last will).
pub const DISCONNECT: [u8; 2] = [0xE0, 0x00];

/// The CONNECT packet of a clean session with a username and password (MQTT 3.1.1, 3.1).
pub fn connect_packet(
    client_id: &str,
    username: &str,
    password: &str,
    keep_alive_s: u16,
) -> Vec<u8> {
    let mut body = Vec::with_capacity(16 + client_id.len() + username.len() + password.len());
    push_str(&mut body, "MQTT");
    // Protocol level 4 (3.1.1); flags: username, password, clean session.
    body.extend_from_slice(&[4, 0x80 | 0x40 | 0x02]);
    body.extend_from_slice(&keep_alive_s.to_be_bytes());
    for s in [client_id, username, password] {
        push_str(&mut body, s);
    }
    framed(0x10, &body)
}

/// A packet of type and flags `header` around `body`, with its remaining length.
fn framed(header: u8, body: &[u8]) -> Vec<u8> {
    let mut packet = Vec::with_capacity(body.len() + 5);
    packet.push(header);
    let mut len = body.len();
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        packet.push(byte);
        if len == 0 {
            break;
        }
    }
    packet.extend_from_slice(body);
    packet
}

/// A PUBLISH of `payload` on `topic`: QoS 1 with packet id `pkid`, or QoS 0 when `None`.
pub fn publish_packet(topic: &str, payload: &[u8], pkid: Option<u16>) -> Vec<u8> {
    let mut body = Vec::with_capacity(4 + topic.len() + payload.len());
    push_str(&mut body, topic);
    if let Some(id) = pkid {
        body.extend_from_slice(&id.to_be_bytes());
    }
    body.extend_from_slice(payload);
    framed(if pkid.is_some() { 0x32 } else { 0x30 }, &body)
}

/// A SUBSCRIBE of one `filter` at `qos`, packet id `pkid`.
pub fn subscribe_packet(pkid: u16, filter: &str, qos: u8) -> Vec<u8> {
    let mut body = Vec::with_capacity(5 + filter.len());
    body.extend_from_slice(&pkid.to_be_bytes());
    push_str(&mut body, filter);
    body.push(qos);
    framed(0x82, &body)
}

/// The PUBACK of packet id `pkid`.
pub fn puback(pkid: u16) -> [u8; 4] {
    let id = pkid.to_be_bytes();
    [0x40, 2, id[0], id[1]]
}

/// One packet read from `r`: its first byte (type and flags) and its body.
pub async fn read_packet<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<(u8, Vec<u8>)> {
    let header = r.read_u8().await?;
    let (mut len, mut shift) = (0usize, 0);
    loop {
        let byte = r.read_u8().await?;
        len |= ((byte & 0x7f) as usize) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 21 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "remaining length over 4 bytes",
            ));
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).await?;
    Ok((header, body))
}

/// What an incoming PUBLISH holds: topic, packet id (QoS 1 or 2) and payload.
pub fn parse_publish(header: u8, body: &[u8]) -> Option<(&str, Option<u16>, &[u8])> {
    let len = u16::from_be_bytes([*body.first()?, *body.get(1)?]) as usize;
    let topic = std::str::from_utf8(body.get(2..2 + len)?).ok()?;
    let mut at = 2 + len;
    let pkid = if header & 0x06 != 0 {
        at += 2;
        Some(u16::from_be_bytes([*body.get(at - 2)?, *body.get(at - 1)?]))
    } else {
        None
    };
    Some((topic, pkid, body.get(at..)?))
}

fn push_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u16).to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// What the broker answered to a CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnAck {
    Accepted,
    /// The CONNACK's return code (5: not authorised).
    Refused(u8),
}

/// Opens a connection to `addr`, sends `connect` and reads the CONNACK. A broker that closes
/// without answering is an `UnexpectedEof` error.
pub async fn connect(addr: SocketAddr, connect: &[u8]) -> io::Result<(TcpStream, ConnAck)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(connect).await?;
    let mut ack = [0u8; 4];
    stream.read_exact(&mut ack).await?;
    if ack[0] != 0x20 || ack[1] != 2 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("expected a CONNACK, got {:#04x} {:#04x}", ack[0], ack[1]),
        ));
    }
    let answer = match ack[3] {
        0 => ConnAck::Accepted,
        code => ConnAck::Refused(code),
    };
    Ok((stream, answer))
}

/// Sends DISCONNECT and waits (up to `timeout`) for the broker to close its side, so that the
/// broker's socket is gone before the next round and the closing handshake's wait (TIME_WAIT) is
/// on the broker's side rather than on one of the client's ports.
pub async fn disconnect(mut stream: TcpStream, timeout: Duration) {
    if stream.write_all(&DISCONNECT).await.is_err() {
        return;
    }
    let mut sink = [0u8; 64];
    let _ = tokio::time::timeout(timeout, async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_packet_is_mqtt_3_1_1() {
        let p = connect_packet("btn-1", "btn-1", "pw", 60);
        assert_eq!(p[0], 0x10);
        assert_eq!(p[1] as usize, p.len() - 2);
        assert_eq!(&p[2..10], b"\x00\x04MQTT\x04\xc2");
        assert_eq!(&p[10..12], &[0, 60]);
        assert_eq!(&p[12..19], b"\x00\x05btn-1");
        assert!(p.ends_with(b"\x00\x02pw"));
        // A remaining length of 128 or more takes a second byte.
        let long = connect_packet("x", "x", &"p".repeat(200), 60);
        let remaining = long.len() - 3;
        assert_eq!(
            &long[1..3],
            &[(remaining % 128) as u8 | 0x80, (remaining / 128) as u8]
        );
    }

    #[tokio::test]
    async fn publish_reads_back() {
        let p = publish_packet("a/b", b"hello", Some(7));
        assert_eq!(p[0], 0x32);
        let (header, body) = read_packet(&mut p.as_slice()).await.expect("packet");
        assert_eq!(
            parse_publish(header, &body),
            Some(("a/b", Some(7), &b"hello"[..]))
        );
        let q0 = publish_packet("a", &[0; 200], None);
        let (header, body) = read_packet(&mut q0.as_slice()).await.expect("packet");
        assert_eq!(
            parse_publish(header, &body),
            Some(("a", None, &[0u8; 200][..]))
        );
        assert_eq!(
            subscribe_packet(1, "x/#", 1),
            b"\x82\x08\x00\x01\x00\x03x/#\x01"
        );
    }
}
