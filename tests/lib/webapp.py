#!/usr/bin/python3
"""A stand-in web application on 127.0.0.1, for the browser suite and the
demo: it serves the example converse.js page, converse.js's dist/ files and
the token endpoint the page's credentials_url points at.

    webapp.py --page DIR --dist DIR --helper HELPER --config CONF --jid JID
              [--websocket-url URL] [--bosh-url URL] [--port PORT] [--log FILE]
              [--jwt-key KEY --jwt-kid KID]

It prints "http://127.0.0.1:PORT/" once it listens (PORT 0, the default,
takes a free port).

  GET /token[?kind=K]   {"jid": JID, "password": TOKEN}, the contract of a
                        credentials_url. K is "fresh" (the default: from
                        "HELPER --config CONF mint JID"), "tampered" (a fresh
                        token with one character of its signature changed)
                        or "expired" (the web application's reference
                        generator, tests/harness/tokengen.py, ten minutes ago) or
                        "limited" (a rate-limited endpoint: one tampered
                        token a minute, "429 Too Many Requests" beyond) or
                        "denied" (no user logged in: 401, always) or "jwt"
                        (a JWT: "HELPER --config CONF mint JID --jwt
                        --private-key KEY --kid KID", given --jwt-key KEY
                        and --jwt-kid KID).
  GET /                 the page, its settings block rewritten for this
                        server; query parameters (for tests, not a page to
                        copy): transport=websocket|bosh|both (default both),
                        token=K (the kind /token hands out), reconnect=0|1
                        (auto_reconnect; default: the page's own).
  GET /chat.js, ...     the page's other files; /dist/... converse.js's.

Tokens are never logged.
"""
import argparse
import http.server
import json
import mimetypes
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SETTINGS_RE = re.compile(
    r'(<script type="application/json" id="chat-settings">)(.*?)(</script>)',
    re.S)
TYPES = {".js": "text/javascript", ".mjs": "text/javascript",
         ".css": "text/css", ".json": "application/json",
         ".wasm": "application/wasm", ".html": "text/html",
         ".map": "application/json", ".svg": "image/svg+xml"}


def read_secrets(path):
    """otp_seed and token_secret of the config's global section."""
    found = {}
    section = None
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line.startswith("["):
                section = line.strip("[]").strip()
                continue
            if "=" not in line or section not in (None, "prosody.cfg.lua"):
                continue
            key, value = (s.strip() for s in line.split("=", 1))
            key = {"prosody_otp_seed": "otp_seed",
                   "prosody_token_secret": "token_secret"}.get(key, key)
            found[key] = value
    return found["otp_seed"], found["token_secret"]


def tamper(token):
    """The token with one base64 character of its signature changed, still
    well formed (the same length, canonical base64)."""
    head, sig = token.split(" ", 1)
    i = len(sig) // 2
    c = "B" if sig[i] == "A" else "A"
    return head + " " + sig[:i] + c + sig[i + 1:]


class App:
    def __init__(self, args):
        self.args = args
        self.limited = []  # when kind=limited last handed out tokens
        self.lock = threading.Lock()

    def allow(self, now):
        """The rate limit of kind=limited: one token a minute."""
        with self.lock:
            self.limited = [t for t in self.limited if now - t < 60]
            if self.limited:
                return False
            self.limited.append(now)
            return True

    def mint(self, kind):
        a = self.args
        if kind == "expired":
            seed, secret = read_secrets(a.config)
            out = subprocess.run(
                [sys.executable, os.path.join(HERE, "..", "harness", "tokengen.py"), seed,
                 secret, a.jid, "--offset", "-600"],
                capture_output=True, text=True, timeout=10, check=True)
        elif kind == "jwt":
            out = subprocess.run(
                [a.helper, "--config", a.config, "mint", a.jid, "--jwt",
                 "--private-key", a.jwt_key, "--kid", a.jwt_kid],
                capture_output=True, text=True, timeout=10, check=True)
        else:
            out = subprocess.run(
                [a.helper, "--config", a.config, "mint", a.jid],
                capture_output=True, text=True, timeout=10, check=True)
        token = out.stdout.strip()
        return tamper(token) if kind in ("tampered", "limited") else token

    def settings(self, query):
        a = self.args
        transport = query.get("transport", "both")
        s = {"credentials_url": "/token"}
        if transport in ("websocket", "both") and a.websocket_url:
            s["websocket_url"] = a.websocket_url
        if transport in ("bosh", "both") and a.bosh_url:
            s["bosh_service_url"] = a.bosh_url
        kind = query.get("token", "fresh")
        if kind != "fresh":
            s["credentials_url"] = "/token?kind=" + urllib.parse.quote(kind)
        if query.get("reconnect") in ("0", "1"):
            s["auto_reconnect"] = query["reconnect"] == "1"
        return s


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "webapp"
    app = None

    def log_message(self, fmt, *args):
        if self.app.args.log:
            with open(self.app.args.log, "a") as f:
                f.write("%s %s\n" % (self.log_date_time_string(), fmt % args))

    def send(self, status, body, ctype, extra=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        path = urllib.parse.unquote(url.path)
        try:
            if path == "/token":
                self.token(query.get("kind", "fresh"))
            elif path in ("/", "/index.html"):
                self.page(query)
            elif path.startswith("/dist/"):
                self.file(self.app.args.dist, path[len("/dist/"):])
            else:
                self.file(self.app.args.page, path.lstrip("/"))
        except (subprocess.SubprocessError, OSError, KeyError) as e:
            self.send(500, "error: %s\n" % type(e).__name__, "text/plain")

    def token(self, kind):
        if kind not in ("fresh", "tampered", "expired", "limited", "denied",
                        "jwt") or (kind == "jwt" and not self.app.args.jwt_key):
            self.send(400, "unknown kind\n", "text/plain")
            return
        if kind == "denied":
            self.send(401, "not logged in\n", "text/plain")
            return
        if kind == "limited" and not self.app.allow(time.monotonic()):
            self.send(429, "too many tokens, try again later\n",
                      "text/plain", [("Retry-After", "60")])
            return
        body = json.dumps({"jid": self.app.args.jid,
                           "password": self.app.mint(kind)})
        # A token must not be cached anywhere on its way to the page.
        self.send(200, body, "application/json",
                  [("Cache-Control", "no-store")])

    def page(self, query):
        a = self.app.args
        if not os.path.isfile(os.path.join(a.dist, "converse.min.js")):
            self.send(503, NO_CONVERSE % {"dist": a.dist}, "text/html")
            return
        with open(os.path.join(a.page, "index.html")) as f:
            html = f.read()
        settings = json.dumps(self.app.settings(query), indent=1)
        html, n = SETTINGS_RE.subn(
            lambda m: m.group(1) + "\n" + settings + "\n" + m.group(3), html)
        if n != 1:
            self.send(500, "no settings block in index.html\n", "text/plain")
            return
        self.send(200, html, "text/html; charset=utf-8",
                  [("Cache-Control", "no-store")])

    def file(self, root, rel):
        root = os.path.realpath(root)
        full = os.path.realpath(os.path.join(root, rel))
        if not full.startswith(root + os.sep) or not os.path.isfile(full):
            self.send(404, "not found\n", "text/plain")
            return
        ext = os.path.splitext(full)[1]
        ctype = TYPES.get(ext) or mimetypes.guess_type(full)[0] \
            or "application/octet-stream"
        with open(full, "rb") as f:
            self.send(200, f.read(), ctype)


NO_CONVERSE = """<!DOCTYPE html>
<title>converse.js is not installed</title>
<p>converse.js is not installed (no converse.min.js in %(dist)s).
Install it, with Node.js and npm, from the source tree:
<pre>npm ci --prefix tests/browser</pre>
then reload this page. The token endpoint <a href="/token">/token</a> works
without it.</p>
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--page", required=True)
    p.add_argument("--dist", required=True)
    p.add_argument("--helper", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--jid", required=True)
    p.add_argument("--websocket-url")
    p.add_argument("--bosh-url")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--log")
    p.add_argument("--jwt-key")
    p.add_argument("--jwt-kid")
    a = p.parse_args()
    Handler.app = App(a)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    print("http://127.0.0.1:%d/" % httpd.server_address[1], flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
