#!/usr/bin/env python3
"""Posts alerts to a running `runbook serve` from many connections at once
(tests, bench). Alert i is a generic alert with fingerprint "fp-(i % KEYS)".
Usage: post_many.py URL N KEYS CONCURRENCY [TOKEN] [ALERTNAME]
Prints one JSON line: {"codes": {"202": N, ...}, "seconds": S, "queue_ids": [...]}."""
import http.client
import json
import sys
import threading
import time
import urllib.parse

url, n, keys, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
token = sys.argv[5] if len(sys.argv) > 5 else ""
name = sys.argv[6] if len(sys.argv) > 6 else "ServiceDown"
u = urllib.parse.urlparse(url)
codes, ids, lock = {}, [], threading.Lock()
todo = list(range(n))


def work():
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    while True:
        with lock:
            if not todo:
                break
            i = todo.pop()
        body = json.dumps({"alertname": name, "fingerprint": "fp-%d" % (i % keys), "severity": "warning",
                           "labels": {"instance": "host-%d" % (i % keys), "n": str(i)},
                           "summary": "service down on host-%d" % (i % keys)})
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        try:
            conn.request("POST", u.path or "/v1/alerts", body, headers)
            r = conn.getresponse()
            data = r.read()
            code = r.status
            if code == 202:
                got = [a["queue_id"] for a in json.loads(data)["alerts"]]
                with lock:
                    ids.extend(got)
        except Exception as e:  # a refused or reset connection is counted, not fatal
            code = type(e).__name__
            conn.close()
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        with lock:
            codes[str(code)] = codes.get(str(code), 0) + 1
    conn.close()


t0 = time.time()
threads = [threading.Thread(target=work) for _ in range(conc)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"codes": codes, "seconds": time.time() - t0, "queue_ids": sorted(ids)}))
