"""The smallest service the roles can deploy and check: the endpoints of docs/SERVICE_CONTRACT.md, standard library only.

GET /health/live answers 200; GET /health/ready answers 200, or 503 while the file named by NOT_READY_FILE exists;
GET /version answers {"version": APP_VERSION}; GET /whoami answers the version and the host name (a container's
id, so a test can tell which container answered through a proxy). Listens on PORT (8000); stops on SIGTERM."""
from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("APP_VERSION", "0.0.0")
NOT_READY_FILE = os.environ.get("NOT_READY_FILE", "/tmp/not-ready")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        if self.path == "/health/live":
            self._answer(200, {"status": "live"})
        elif self.path == "/health/ready":
            ready = not os.path.exists(NOT_READY_FILE)
            self._answer(200 if ready else 503, {"status": "ready" if ready else "not ready"})
        elif self.path == "/version":
            self._answer(200, {"version": VERSION})
        elif self.path == "/whoami":
            self._answer(200, {"version": VERSION, "hostname": socket.gethostname()})
        else:
            self._answer(404, {"error": "not found"})

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the signature http.server calls
        return


def main() -> None:
    server = ThreadingHTTPServer(("", int(os.environ.get("PORT", "8000"))), Handler)
    # PID 1 in a container ignores SIGTERM unless it handles it: stop serving and exit, as a real service does.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
    server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
