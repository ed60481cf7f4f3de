#!/usr/bin/python3
"""A small XMPP client for the end-to-end tests and the demo (slixmpp).

Log in once and print the outcome ("success", or the SASL condition such as
"not-authorized"); exit 0 only on success:

    xmpp_client.py --port PORT --jid USER@DOMAIN --password TOKEN
                   [--mech PLAIN|X-TOKEN] [--authzid JID] [--host 127.0.0.1]
                   [--timeout SECONDS]

Log in many at once, one "JID TOKEN" per line of FILE, and print one
"JID OUTCOME" line each, then "N succeeded, M failed":

    xmpp_client.py --port PORT --batch FILE [--mech ...]

Log in, print "ready", then ping the server every --interval seconds until
FILE exists (or --timeout passes), and print
"pings sent=N answered=M max_rtt=SECONDS"; exit 0 if every ping was answered:

    xmpp_client.py --port PORT --jid J --password T --ping-until FILE

Log in, send one chat message to JID, and print "error:CONDITION" for an
error reply within --wait seconds, else "no-error":

    xmpp_client.py --port PORT --jid J --password T --send-to JID --body TEXT

Log in, send initial presence (offline messages are delivered then), and
print "received:BODY" for the first message within --wait seconds, else
"nothing":

    xmpp_client.py --port PORT --jid J --password T --receive

X-TOKEN is the mechanism converse.js uses with collective.converse: PLAIN's
message (authzid NUL authcid NUL token) under another name. The client never
uses TLS (the tests run on the loopback interface), so it allows PLAIN and
X-TOKEN without encryption. It works with slixmpp 1.8 (Debian 12) and 1.10
(Debian 13), whose connect() differ.
"""
import argparse
import asyncio
import logging
import os
import sys
import time

from slixmpp import ClientXMPP
from slixmpp.util.sasl.client import sasl_mech
from slixmpp.util.sasl.mechanisms import PLAIN


@sasl_mech(2)
class X_TOKEN(PLAIN):
    name = "X-TOKEN"


class Client(ClientXMPP):
    def __init__(self, jid, password, mech, authzid=None):
        ClientXMPP.__init__(self, jid, password, sasl_mech=mech)
        mechs = self["feature_mechanisms"]
        mechs.config["unencrypted_plain"] = True
        if authzid is not None:
            self.credentials["authzid"] = authzid
        self.register_plugin("xep_0199")
        self.outcome = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self._on_session_start)
        self.add_event_handler("failed_auth", self._on_failed_auth)
        self.add_event_handler("no_auth", self._on_no_auth)
        self.add_event_handler("connection_failed", self._on_conn_failed)
        self.add_event_handler("disconnected", self._on_disconnected)
        self.messages = asyncio.Queue()
        self.add_event_handler("message", self.messages.put_nowait)
        self.add_event_handler("message_error", self.messages.put_nowait)

    def _set(self, outcome):
        if not self.outcome.done():
            self.outcome.set_result(outcome)

    def _on_session_start(self, _event):
        self._set("success")

    def _on_failed_auth(self, stanza):
        self._set(stanza["condition"] or "failure")

    def _on_no_auth(self, _event):
        self._set("mechanism-not-offered")

    def _on_conn_failed(self, _event):
        self._set("connection-failed")

    def _on_disconnected(self, _event):
        self._set("disconnected")


def connect_plain(client, host, port):
    """Connect to HOST:PORT without TLS, in either slixmpp's API."""
    if hasattr(client, "enable_plaintext"):
        # slixmpp 1.9 and later: connect(host, port), TLS set by attributes
        client.enable_direct_tls = False
        client.enable_starttls = False
        client.enable_plaintext = True
        client.connect(host, port)
    else:
        # slixmpp 1.8: connect((host, port), ...), TLS set by arguments
        client.connect((host, port), use_ssl=False, force_starttls=False,
                       disable_starttls=True)


def start(args, jid, password):
    client = Client(jid, password, args.mech, args.authzid)
    connect_plain(client, args.host, args.port)
    return client


async def login(client, timeout):
    try:
        return await asyncio.wait_for(asyncio.shield(client.outcome), timeout)
    except asyncio.TimeoutError:
        return "timeout"


async def close(client):
    # disconnect() returns a future that ends with the disconnection (the
    # client's "disconnected" future may already have been replaced by a
    # fresh one when the server closed first, as with slixmpp 1.10).
    done = client.disconnect(wait=0.5)
    try:
        await asyncio.wait_for(done, 2)
    except (asyncio.TimeoutError, AttributeError, TypeError):
        pass


async def run_single(args):
    client = start(args, args.jid, args.password)
    outcome = await login(client, args.timeout)
    print(outcome, flush=True)
    await close(client)
    return 0 if outcome == "success" else 1


async def run_batch(args):
    pairs = []
    with open(args.batch) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                jid, token = line.split(" ", 1)
                pairs.append((jid, token))
    clients = [start(args, jid, token) for jid, token in pairs]
    outcomes = await asyncio.gather(*(login(c, args.timeout) for c in clients))
    ok = 0
    for (jid, _), outcome in zip(pairs, outcomes):
        print(jid, outcome)
        ok += outcome == "success"
    print("%d succeeded, %d failed" % (ok, len(pairs) - ok), flush=True)
    await asyncio.gather(*(close(c) for c in clients))
    return 0 if ok == len(pairs) else 1


async def run_pinger(args):
    client = start(args, args.jid, args.password)
    outcome = await login(client, args.timeout)
    if outcome != "success":
        print(outcome, flush=True)
        return 1
    print("ready", flush=True)
    sent = answered = 0
    max_rtt = 0.0
    deadline = time.monotonic() + args.timeout
    while not os.path.exists(args.ping_until) and time.monotonic() < deadline:
        sent += 1
        start_time = time.monotonic()
        try:
            await client["xep_0199"].ping(timeout=args.ping_timeout)
            answered += 1
            max_rtt = max(max_rtt, time.monotonic() - start_time)
        except Exception:  # an unanswered ping is what is being counted
            max_rtt = max(max_rtt, time.monotonic() - start_time)
        await asyncio.sleep(args.interval)
    print("pings sent=%d answered=%d max_rtt=%.3f" % (sent, answered, max_rtt),
          flush=True)
    await close(client)
    return 0 if sent > 0 and sent == answered else 1


async def next_message(client, wait):
    try:
        return await asyncio.wait_for(client.messages.get(), wait)
    except asyncio.TimeoutError:
        return None


async def run_send(args):
    client = start(args, args.jid, args.password)
    outcome = await login(client, args.timeout)
    if outcome != "success":
        print(outcome, flush=True)
        return 1
    client.send_message(mto=args.send_to, mbody=args.body, mtype="chat")
    result = "no-error"
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        msg = await next_message(client, deadline - time.monotonic())
        if msg is not None and msg["type"] == "error":
            result = "error:" + (msg["error"]["condition"] or "unknown")
            break
    print(result, flush=True)
    await close(client)
    return 0


async def run_receive(args):
    client = start(args, args.jid, args.password)
    outcome = await login(client, args.timeout)
    if outcome != "success":
        print(outcome, flush=True)
        return 1
    client.send_presence()
    result = "nothing"
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        msg = await next_message(client, deadline - time.monotonic())
        if msg is not None and msg["body"]:
            result = "received:" + msg["body"]
            break
    print(result, flush=True)
    await close(client)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--jid")
    p.add_argument("--password")
    p.add_argument("--mech", default="PLAIN", choices=["PLAIN", "X-TOKEN"])
    p.add_argument("--authzid")
    p.add_argument("--timeout", type=float, default=15,
                   help="seconds to wait for a login (pinger: in all)")
    p.add_argument("--batch", metavar="FILE")
    p.add_argument("--ping-until", metavar="FILE")
    p.add_argument("--interval", type=float, default=0.1)
    p.add_argument("--ping-timeout", type=float, default=2)
    p.add_argument("--send-to", metavar="JID")
    p.add_argument("--body", default="hello")
    p.add_argument("--receive", action="store_true")
    p.add_argument("--wait", type=float, default=3,
                   help="seconds to wait for a message or an error")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.CRITICAL)
    if args.batch:
        run = run_batch(args)
    else:
        if not args.jid or args.password is None:
            p.error("--jid and --password are needed")
        if args.send_to:
            run = run_send(args)
        elif args.receive:
            run = run_receive(args)
        elif args.ping_until:
            run = run_pinger(args)
        else:
            run = run_single(args)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop.run_until_complete(run)


if __name__ == "__main__":
    sys.exit(main())
