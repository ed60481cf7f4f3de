#!/usr/bin/python3
"""Log in to an XMPP server with slixmpp, once per input line, and say how
each attempt ended: for the ejabberd suite.

    ejabberd-login.py HOST PORT < attempts

Each input line is "JID<TAB>PASSWORD" (the password may contain spaces). For
each line one fresh client connects, authenticates (SASL PLAIN over plain TCP
on loopback: the test server has no certificate), and disconnects as soon as
the session starts. One output line per attempt, in order: "ok", "refused"
(the server said not-authorized) or "error: ..." (anything else, such as a
timeout or a connection that never came up). Works with slixmpp 1.8
(Debian 12) and 1.10 (Debian 13).
"""
import asyncio
import logging
import sys

import slixmpp

from xmpp_client import connect_plain

TIMEOUT = 15


class Attempt(slixmpp.ClientXMPP):
    def __init__(self, jid, password, loop_future):
        super().__init__(jid, password)
        self.result = loop_future
        # Loopback only, no certificate on the test server: allow PLAIN
        # without TLS, and ask for PLAIN only (what external auth offers).
        self["feature_mechanisms"].unencrypted_plain = True
        self.add_event_handler("session_start", self.on_session)
        self.add_event_handler("failed_auth", self.on_failed)
        self.add_event_handler("disconnected", self.on_disconnected)
        self.add_event_handler("connection_failed", self.on_conn_failed)

    def settle(self, value):
        if not self.result.done():
            self.result.set_result(value)

    def on_session(self, _event):
        self.settle("ok")
        self.disconnect(wait=False)

    def on_failed(self, _event):
        self.settle("refused")
        self.disconnect(wait=False)

    def on_disconnected(self, _event):
        self.settle("error: disconnected before a result")

    def on_conn_failed(self, event):
        self.settle("error: connection failed: %s" % (event,))


async def attempt(host, port, jid, password):
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    client = Attempt(jid, password, fut)
    connect_plain(client, host, port)
    try:
        result = await asyncio.wait_for(fut, TIMEOUT)
    except asyncio.TimeoutError:
        result = "error: timeout"
    client.disconnect(wait=False)
    # Give the transport a moment to close before the next attempt.
    await asyncio.sleep(0.05)
    client.abort()
    return result


async def main():
    host, port = sys.argv[1], int(sys.argv[2])
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line:
            continue
        jid, _, password = line.partition("\t")
        # One write(2) per line (print() makes two: the text, then its
        # newline), so that the line of a client sharing its output with
        # others stays whole.
        sys.stdout.write(await attempt(host, port, jid, password) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    logging.basicConfig(level=logging.CRITICAL)
    asyncio.run(main())
