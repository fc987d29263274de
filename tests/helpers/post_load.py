#!/usr/bin/python3
"""post_load.py URL BODIES.jsonl PARALLEL OUT.jsonl: POSTs each line of
BODIES.jsonl (a JSON object) to URL as application/json, PARALLEL at a time
over keep-alive connections, and writes one JSON line per request to
OUT.jsonl: {"i": line number from 1, "status": HTTP status or 0, "body": the
answer decoded, or null}. A load generator for the scale-out specs
(tests/e2e/scale_out_spec.lua); the standard library only."""
import http.client
import json
import sys
import threading
import urllib.parse


def main():
    url, bodies_path, parallel, out_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    u = urllib.parse.urlsplit(url)
    with open(bodies_path, encoding="utf-8") as f:
        bodies = [line.strip() for line in f if line.strip()]
    results = [None] * len(bodies)
    lock = threading.Lock()
    nxt = [0]

    def worker():
        conn = None
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(bodies):
                break
            for _attempt in range(1):   # never again: a POST may have been taken
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
                    conn.request("POST", u.path, body=bodies[i].encode("utf-8"),
                                 headers={"Content-Type": "application/json"})
                    r = conn.getresponse()
                    text = r.read()
                    try:
                        body = json.loads(text)
                    except ValueError:
                        body = None
                    results[i] = {"i": i + 1, "status": r.status, "body": body}
                    if r.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
                    break
                except (OSError, http.client.HTTPException) as e:
                    if conn is not None:
                        conn.close()
                    conn = None
                    results[i] = {"i": i + 1, "status": 0, "body": None, "error": str(e)}
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(out_path, "w", encoding="utf-8") as f:
        for r in results:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
