"""The one place that masks credentials in what findata prints, logs or stores as metadata.

- `safe_url`: a URL as scheme://host[:port]/path: no user, no password, no query (webhook tokens
  and presigned signatures live there);
- `mask_url`: a URL with its password masked and its query dropped, the user kept (a database URL
  in an error: which account, never its password);
- `redact`: free text (an exception message, a driver's error) with URL passwords, key=value
  secrets, bearer and sk- keys, the values of secret-looking environment variables and any
  `secrets` the caller names masked.
"""

from __future__ import annotations

import re
from typing import Iterable
from urllib.parse import urlsplit, urlunsplit

from findata_assets import environment

MASK = "***"
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][\w+.-]*://[^/\s:@]*:)[^@\s/]+@")
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)(?P<key>(password|passwd|secret|token|access_token|api_key|apikey|sign|signature)"
    r"[\"']?\s*[=:]\s*)[\"']?[^\s\"'&,;]+")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;)]+")
_KEYLIKE = re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}")


def _host(parts) -> str:
    try:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:  # a malformed port: what is certainly not a credential
        host = parts.netloc.rpartition("@")[2]
    return host


def _join(scheme: str, netloc: str, path: str) -> str:
    # urlunsplit would turn sqlite:////abs/path (no host) into sqlite://abs/path
    return f"{scheme}://{netloc}{path}" if scheme else urlunsplit(("", netloc, path, "", ""))


def safe_url(url: str) -> str:
    """The URL without user:password or query, fit for logs and error messages."""
    parts = urlsplit(url)
    return _join(parts.scheme, _host(parts), parts.path)


def mask_url(url: str) -> str:
    """The URL with the password masked and the query dropped; the user stays."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0].partition(":")[0] if "@" in parts.netloc else ""
    netloc = f"{user}:{MASK}@{_host(parts)}" if user else _host(parts)
    return _join(parts.scheme, netloc, parts.path)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    text = _URL_PASSWORD.sub(rf"\g<head>{MASK}@", text)
    text = _SECRET_ASSIGNMENT.sub(rf"\g<key>{MASK}", text)
    text = _KEYLIKE.sub(f"sk-{MASK}", _BEARER.sub(rf"\1{MASK}", text))
    named = [s for s in secrets if s]
    named += environment.secret_values()
    for secret in named:
        text = text.replace(secret, MASK)
    return text
