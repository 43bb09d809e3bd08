"""The configured endpoint URL: completed, made safe to print, and failures that are its fault.

A wrong URL must fail at once with a message naming the setting, not after minutes of retries:
HTTP 4xx (but 408/429), an unknown host, a page that is not the API. A refused connection is
retried briefly (a proxy restarting) and then also blamed on the URL. Two endpoints, two
settings: the ranking (`CLIST`, the default everywhere) and the daily history (`HISTORY`).
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from findata_assets.eastmoney.errors import EndpointError
from findata_assets.settings.eastmoney import EXPECTED, ENV_URL, normalise_url  # noqa: F401
from findata_assets.settings.history import ENV_HISTORY_URL, HISTORY_URL

# How long a refused connection (or a DNS server that is briefly away) is retried.
UNREACHABLE_RETRY_S = 3.0


@dataclass(frozen=True)
class Endpoint:
    """Which setting an endpoint's URL comes from, what it should look like, what it serves."""

    setting: str
    expected: str
    api: str


CLIST = Endpoint(ENV_URL, EXPECTED, "the Eastmoney clist API")
HISTORY = Endpoint(ENV_HISTORY_URL, HISTORY_URL, "the Eastmoney daily fund-flow kline API")


def http_status_error(status: int, url: str, target: Endpoint = CLIST) -> EndpointError:
    hint = {403: " (forbidden: the API may be blocking this client's address)",
            404: " (not found: a wrong path)"}.get(status, "")
    return EndpointError(target.setting, url, f"HTTP {status}{hint}", target.expected)


def not_the_api(detail: str, url: str, target: Endpoint = CLIST) -> EndpointError:
    return EndpointError(target.setting, url, f"not {target.api}: {detail}", target.expected)


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
                      exc: BaseException, target: Endpoint = CLIST) -> EndpointError:
    host = urlsplit(url).hostname
    if kind == "unknown host":
        return EndpointError(target.setting, url, f"unknown host {host!r}", target.expected)
    return EndpointError(target.setting, url, f"cannot connect ({_reason(exc)}; {attempts} "
                                              f"attempts over {seconds:.1f} s)", target.expected)


def split_credentials(url: str) -> tuple[httpx.BasicAuth | None, str]:
    """(an auth header for the URL's user:password, the URL without them). Credentials travel
    as a header, so neither our logs, our errors nor httpx's request log ever print them."""
    parts = urlsplit(url)
    auth = (httpx.BasicAuth(unquote(parts.username), unquote(parts.password or ""))
            if parts.username else None)
    return auth, urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


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
