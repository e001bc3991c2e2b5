#!/usr/bin/env python3
"""A real HTTP receiver for tests and the demo: it stands where Slack, a
webhook or PagerDuty's Events API would. Every POST is appended to FILE as
one JSON line {"path", "headers", "body"}; it answers STATUS (default 202).
GETs serve the http action's tests: /status/N, /slow/SECONDS, /big/BYTES.
With RECEIVER_EVENTS_DB (an SQLite timeline store), each line also says how
many `step` events of the incident the message names (INC-n) were
committed there when the POST arrived.
Usage: receiver.py PORT FILE [STATUS]"""
import http.server
import json
import os
import re
import sqlite3
import sys

port, out = int(sys.argv[1]), sys.argv[2]
status = int(sys.argv[3]) if len(sys.argv) > 3 else 202


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode("utf-8", "replace")
        line = {"path": self.path, "headers": dict(self.headers), "body": body}
        db = os.environ.get("RECEIVER_EVENTS_DB")
        if db:
            try:
                inc = re.search(r"INC-[0-9]+", body)
                c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
                line["step_events"] = c.execute("SELECT count(*) FROM events WHERE kind = 'step' AND incident = ?",
                                                (inc.group(0) if inc else "",)).fetchone()[0]
                c.close()
            except sqlite3.Error:
                line["step_events"] = None
        with open(out, "a") as f:
            f.write(json.dumps(line) + "\n")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def do_GET(self):
        # /status/N answers N; /slow/S waits S seconds; /big/N sends N bytes
        parts = self.path.strip("/").split("/")
        code, body = 200, b'{"ok": true}'
        if parts[0] == "status" and len(parts) > 1:
            code = int(parts[1])
        elif parts[0] == "slow" and len(parts) > 1:
            import time
            time.sleep(float(parts[1]))
        elif parts[0] == "big" and len(parts) > 1:
            body = b"x" * int(parts[1])
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Test", "runbook")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
