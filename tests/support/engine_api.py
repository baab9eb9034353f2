"""A stand-in Docker Engine API on a unix socket, for the unit tests of the modules that ask the engine on its
local socket: answers the paths it is given, records what it was asked, and 404s the rest."""
from __future__ import annotations

import json
import socket
from http.server import ThreadingHTTPServer
from socketserver import UnixStreamServer

from support.http_service import Handler


class EngineServer(ThreadingHTTPServer, UnixStreamServer):
    """Serves `answers` ({path with its query: (status, JSON body)}) and records each asked path in `asked`."""
    address_family = socket.AF_UNIX
    daemon_threads = True

    def __init__(self, path: str) -> None:
        self.answers: dict[str, tuple[int, object]] = {}
        self.asked: list[str] = []
        super().__init__(path, _Handler)

    def get_request(self):  # an AF_UNIX peer has no (host, port): give http.server one
        request, _ = self.socket.accept()
        return request, ("local", 0)


class _Handler(Handler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.server.asked.append(self.path)
        status, body = self.server.answers.get(self.path, (404, {"message": f"no such thing: {self.path}"}))
        self.answer(status, json.dumps(body), "application/json")


def cli(bin_dir, script: str) -> str:
    """A `docker` CLI in `bin_dir` that runs the shell `script`; returns the folder, for PATH."""
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "docker").write_text(f"#!/bin/sh\n{script}\n")
    (bin_dir / "docker").chmod(0o755)
    return str(bin_dir)
