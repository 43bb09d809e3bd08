"""Loopback ports for the test services: free ones to listen on, and waiting for one to open."""

from __future__ import annotations

import random
import socket
import time
from typing import Callable, Optional

from findata_assets_tests.service_error import ServiceError


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _bindable(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
            return True
        except OSError:
            return False


def pick_ports(count: int, *, grpc_offset: int = 10000, low: int = 11000, high: int = 22700,
               rng: Optional[random.Random] = None) -> list[int]:
    """`count` distinct free loopback ports p whose p + grpc_offset are free too (SeaweedFS
    listens on both). Random in [low, high), so parallel sessions rarely collide, and with
    p + grpc_offset below Linux's ephemeral range (32768+), where outgoing connections could
    take a port between this check and weed's bind."""
    rng = rng or random.SystemRandom()
    chosen: list[int] = []
    taken: set[int] = set()
    for _ in range(2000):
        port = rng.randrange(low, high)
        pair = {port, port + grpc_offset}
        if pair & taken:
            continue
        if all(_bindable(p) for p in pair):
            chosen.append(port)
            taken |= pair
            if len(chosen) == count:
                return chosen
    raise ServiceError(f"could not find {count} free port pairs (p, p+{grpc_offset}) in "
                       f"[{low}, {high})")


def wait_for_port(host: str, port: int, timeout_s: float,
                  alive: Callable[[], bool] = lambda: True) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_open(host, port, 0.5):
            return True
        if not alive():
            return False
        time.sleep(0.1)
    return False


def free_port() -> int:
    """Any free loopback port, as the OS picks it (no grpc pair)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
