"""A stand-in service on 127.0.0.1 for the checks' unit tests: answers as a release's health, version, warming
and failing paths would."""
from __future__ import annotations

import json
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION_BODY = json.dumps({"version": "1.2.3", "build": 42})


class Handler(BaseHTTPRequestHandler):
    """/version: 200 JSON; /down: 503; /warming/N: 503 for the first N requests, then 200 JSON;
    /text: 200 plain text; /slow: answers after 1 s; /open/v2/ and /login/v2/: a registry's 200 and 401."""
    hits: Counter

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.server.hits[self.path] += 1
        count = self.server.hits[self.path]
        if self.path == "/version":
            self.answer(200, VERSION_BODY, "application/json")
        elif self.path == "/down":
            self.answer(503, "upstream not ready", "text/plain")
        elif self.path.startswith("/warming/"):
            if count <= int(self.path.rsplit("/", 1)[1]):
                self.answer(503, "warming up", "text/plain")
            else:
                self.answer(200, VERSION_BODY, "application/json")
        elif self.path == "/text":
            self.answer(200, "x" * 1000, "text/plain")
        elif self.path == "/open/v2/":  # a registry that lets anyone read
            self.answer(200, "{}", "application/json")
        elif self.path == "/login/v2/":  # a registry that wants a login first
            self.answer(401, '{"errors": [{"code": "UNAUTHORIZED"}]}', "application/json")
        elif self.path == "/slow":
            time.sleep(1)
            self.answer(200, VERSION_BODY, "application/json")
        else:
            self.answer(404, "not found", "text/plain")

    def answer(self, status: int, body: str, content_type: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def base(srv: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}"
