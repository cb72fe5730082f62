#!/usr/bin/env python3
"""Follows mimamori's alert stream as docs/ALERTS.md ("The alert stream") says.

Subscribe on MQTT; once subscribed, catch up from the events API. Verify every message; apply
it when it is the next one, drop it when already applied, catch up from the API on a gap and
every minute. The last sequence number applied is kept in a file, so a restart misses nothing.

    pip install cryptography paho-mqtt   # paho-mqtt 2.x; not needed with --once

    MIMAMORI_URL=https://mimamori.example.jp \\
    MIMAMORI_MQTT=mqtt.example.jp:8883 MIMAMORI_MQTT_TLS=1 \\
    MIMAMORI_ID=int-… MIMAMORI_SECRET=mmi_… \\
    [MIMAMORI_DISTRICT=kugenuma]  # the integration's district, if it has one
    python3 alert_consumer.py [--once]

--once: catch up from the API, print what was applied, and stop (no MQTT).
Each applied message is printed as one line: seq, event, alert id, district, state.
"""

import json
import os
import re
import sys
import time
import urllib.request

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

BASE = os.environ["MIMAMORI_URL"].rstrip("/")
SECRET = os.environ["MIMAMORI_SECRET"]
DISTRICT = os.environ.get("MIMAMORI_DISTRICT", "")
STATE = os.environ.get("MIMAMORI_STATE", "mimamori-last-seq.txt")


def get(path, auth=True):
    request = urllib.request.Request(BASE + path)
    if auth:
        request.add_header("Authorization", "Bearer " + SECRET)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


KEY = Ed25519PublicKey.from_public_bytes(
    bytes.fromhex(get("/api/v1/alerts/key", auth=False)["public_key"])
)
SIGNED = re.compile(rb'(.*),"sig":"([0-9a-f]{128})"\}', re.S)


def verify(message: bytes) -> dict:
    """The message's fields, if its signature is the platform's; else an exception."""
    m = SIGNED.fullmatch(message)
    if not m:
        raise ValueError("not a signed message")
    signed = m.group(1) + b"}"
    KEY.verify(bytes.fromhex(m.group(2).decode()), signed)  # InvalidSignature if not
    return json.loads(signed)


def load_last() -> int:
    try:
        with open(STATE) as f:
            return int(f.read().strip() or 0)
    except FileNotFoundError:
        return 0


last = load_last()


def save(seq: int) -> None:
    global last
    last = seq
    with open(STATE + ".tmp", "w") as f:
        f.write(str(seq))
    os.replace(STATE + ".tmp", STATE)


def is_next(msg: dict) -> bool:
    if DISTRICT:  # one district: nothing of it between the previous message and this one
        return msg["district_prev"] <= last < msg["seq"]
    return msg["seq"] == last + 1


def apply(msg: dict) -> None:
    """Your system's work: here, one line per message."""
    alert = msg["alert"]
    print(msg["seq"], msg["event"], alert["id"], alert["district"], alert["state"], flush=True)


def catch_up() -> None:
    """Read the API after the last applied message until it has no more."""
    while True:
        page = get(f"/api/v1/alerts/events?after={last}&limit=100")
        for event in page["events"]:
            msg = verify(event["message"].encode("utf-8"))
            if msg["seq"] > last:
                apply(msg)
                save(msg["seq"])
        if page["next_after"] > last:
            save(page["next_after"])  # past other districts' numbers
        if not page["more"]:
            return


def on_message(message: bytes) -> None:
    try:
        msg = verify(message)
    except Exception as e:  # forged or damaged: never applied
        print("dropped a message that does not verify:", e, file=sys.stderr)
        return
    if msg["seq"] <= last:
        return  # applied already (a repeat, or read from the API first)
    if is_next(msg):
        apply(msg)
        save(msg["seq"])
    else:
        catch_up()  # a gap: the API has what was missed, this message too


def follow() -> None:
    import threading

    import paho.mqtt.client as mqtt

    one_at_a_time = threading.Lock()  # MQTT callbacks and the timer below share `last`

    def locked(f):
        def run(*args):
            with one_at_a_time:
                f(*args)

        return run

    host, port = os.environ["MIMAMORI_MQTT"].rsplit(":", 1)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=os.environ["MIMAMORI_ID"])
    client.username_pw_set(os.environ["MIMAMORI_ID"], SECRET)
    if os.environ.get("MIMAMORI_MQTT_TLS") == "1":
        client.tls_set()
    topic = f"mimamori/v1/alerts/{DISTRICT or '+'}/#"
    # After every (re)connection: subscribe, and once subscribed, catch up.
    client.on_connect = lambda c, u, flags, reason, props: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda c, u, mid, reasons, props: locked(catch_up)()
    client.on_message = lambda c, u, m: locked(on_message)(m.payload)
    client.connect(host, int(port), keepalive=30)
    client.loop_start()  # reconnects by itself
    while True:
        time.sleep(60)
        locked(catch_up)()  # in case the last message itself was lost


if __name__ == "__main__":
    if "--once" in sys.argv:
        catch_up()
    else:
        follow()
