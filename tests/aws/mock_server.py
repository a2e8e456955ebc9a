#!/usr/bin/env python3
"""Scripted HTTP mock for the AWS backend tests: the responses moto never gives.

POST /__script   body: JSON list of responses, served in order to the next requests:
                 {"status": 503, "body": "...", "headers": {"Retry-After": "0"}} or {"action": "reset"}
                 (close the connection without answering), {"action": "stall"} (read the request, then
                 answer nothing for up to 20 s: a hung server); any response may have "delay_ms" (a slow
                 server: wait that long, then answer). When the list is empty: 200, empty body.
GET  /__log      JSON list of the requests seen since the last script: [{"method", "path", "headers", "body"}].
Usage: mock_server.py PORT
"""
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
queue = []
log = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _serve(self):
        body = self._body()
        if self.path == "/__script":
            with lock:
                queue[:] = json.loads(body or b"[]")
                log.clear()
            return self._send(200, b"{}", {})
        if self.path == "/__log":
            with lock:
                data = json.dumps(log).encode()
            return self._send(200, data, {"Content-Type": "application/json"})
        with lock:
            log.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                        "body": body.decode("utf-8", "replace")})
            r = queue.pop(0) if queue else {"status": 200, "body": ""}
        if r.get("action") == "stall":
            # hold the connection open without a byte of answer until the client gives up (or 20 s)
            self.connection.settimeout(0.1)
            end = time.monotonic() + 20
            while time.monotonic() < end:
                try:
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        break  # the client closed it
                except socket.timeout:
                    continue
                except OSError:
                    break
            self.close_connection = True
            return
        if r.get("delay_ms"):
            time.sleep(r["delay_ms"] / 1000.0)
        if r.get("action") == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
            self.close_connection = True
            return
        self._send(r.get("status", 200), r.get("body", "").encode(), r.get("headers", {}))

    def _send(self, status, data, headers):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
