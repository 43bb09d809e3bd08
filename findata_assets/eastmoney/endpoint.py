"""The configured endpoint URL: completed, made safe to print, and failures that are its fault.

A wrong URL must fail at once with a message naming the setting, not after minutes of retries:
HTTP 4xx (but 408/429), an unknown host, a page that is not the API. A refused connection is
retried briefly (a proxy restarting) and then also blamed on the URL.
"""

from __future__ import annotations

import errno
import socket
from urllib.parse import urlsplit

import httpx

from findata_assets.eastmoney.errors import EndpointError
from findata_assets.settings.eastmoney import EXPECTED, ENV_URL, normalise_url  # noqa: F401

# How long a refused connection (or a DNS server that is briefly away) is retried.
UNREACHABLE_RETRY_S = 3.0


def http_status_error(status: int, url: str) -> EndpointError:
    hint = {403: " (forbidden: the API may be blocking this client's address)",
            404: " (not found: a wrong path)"}.get(status, "")
    return EndpointError(ENV_URL, url, f"HTTP {status}{hint}", EXPECTED)


def not_the_api(detail: str, url: str) -> EndpointError:
    return EndpointError(ENV_URL, url, f"not the Eastmoney clist API: {detail}", EXPECTED)


def connect_failure(exc: httpx.ConnectError) -> str | None:
    """"unknown host" (permanent), "unreachable" (retry briefly) or None (an ordinary retry)."""
    for cause in _chain(exc):
        if isinstance(cause, socket.gaierror):
            return "unknown host" if cause.errno == socket.EAI_NONAME else "unreachable"
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == \
                errno.ECONNREFUSED:
            return "unreachable"
    text = str(exc)
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    if "Connection refused" in text:
        return "unreachable"
    return None


def unreachable_error(kind: str, url: str, attempts: int, seconds: float,
                      exc: BaseException) -> EndpointError:
    host = urlsplit(url).hostname
    if kind == "unknown host":
        return EndpointError(ENV_URL, url, f"unknown host {host!r}", EXPECTED)
    return EndpointError(ENV_URL, url, f"cannot connect ({_reason(exc)}; {attempts} attempts "
                                       f"over {seconds:.1f} s)", EXPECTED)


def _reason(exc: BaseException) -> str:
    for cause in _chain(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return f"name lookup failed: {cause.strerror}"
    return str(exc) or type(exc).__name__


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__
