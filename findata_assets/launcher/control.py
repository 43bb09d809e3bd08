"""The control socket's framing, shared by the launcher (warm_handle.py) and the warm worker
(warm_process.py): one JSON object per line."""

from __future__ import annotations

import json
import socket


def send(sock: socket.socket, message: dict) -> None:
    sock.sendall(json.dumps(message).encode() + b"\n")


class Lines:
    """Bytes as they arrive -> the whole messages among them; a partial line waits for more."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[dict]:
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        return [json.loads(line) for line in lines if line]
