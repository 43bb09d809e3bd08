"""Alerts to a chat webhook (DingTalk, WeCom, Slack-compatible), never fatal, never secret-bearing.

FINDATA_ALERT_WEBHOOK: the URL to POST to (unset: alerts are only logged).
FINDATA_UI_URL: the Dagster UI's base URL, for links such as {UI}/runs/{run_id}.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

WEBHOOK_ENV = "FINDATA_ALERT_WEBHOOK"
UI_URL_ENV = "FINDATA_UI_URL"
TIMEOUT_S = 5.0
MAX_TEXT = 1500  # chat webhooks cap message size; the link has the rest

log = logging.getLogger(__name__)

_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][\w+.-]*://[^/\s:@]*:)[^@\s/]+@")
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)(?P<key>(password|passwd|secret|token|access_token|api_key|apikey|sign)[\"']?\s*[=:]\s*)"
    r"[\"']?[^\s\"'&,;]+")
_SECRET_ENV_WORDS = ("SECRET", "PASSWORD", "TOKEN", "API_KEY")


def redact(text: str) -> str:
    """Mask URL passwords, key=value secrets and the values of secret-looking env variables."""
    text = _URL_PASSWORD.sub(r"\g<head>***@", text)
    text = _SECRET_ASSIGNMENT.sub(r"\g<key>***", text)
    for name, value in os.environ.items():
        if len(value) >= 6 and any(word in name.upper() for word in _SECRET_ENV_WORDS):
            text = text.replace(value, "***")
    webhook = os.environ.get(WEBHOOK_ENV, "")
    if webhook:  # its query string (access_token=...) is a credential too
        text = text.replace(webhook, _describe(webhook))
    return text


def _describe(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{':%d' % parts.port if parts.port else ''}{parts.path}"


def ui_link(path: str) -> str | None:
    base = os.environ.get(UI_URL_ENV, "").rstrip("/")
    return f"{base}/{path.lstrip('/')}" if base else None


@dataclass
class Alert:
    title: str
    lines: list[str] = field(default_factory=list)
    link: str | None = None

    def markdown(self) -> str:
        body = "\n".join(f"- {line}" for line in self.lines)
        text = f"### {self.title}\n{body}"
        if self.link:
            text += f"\n\n[Open in Dagster]({self.link})"
        return redact(text[:MAX_TEXT])

    def payload(self) -> dict:
        """One body several webhook flavours accept: DingTalk (msgtype/markdown.title+text), WeCom
        (markdown.content), Slack and most others (text)."""
        text = self.markdown()
        title = redact(self.title)
        return {"msgtype": "markdown",
                "markdown": {"title": title, "text": text, "content": text},
                "text": text}


def post_alert(alert: Alert, webhook: str | None = None,
               logger: logging.Logger | None = None) -> bool:
    """POST the alert; True when the webhook accepted it. Any failure is logged, never raised:
    an alerting outage must not break the sensor that reports another outage."""
    logger = logger or log
    webhook = webhook or os.environ.get(WEBHOOK_ENV)
    logger.warning("ALERT: %s", redact(alert.title + " | " + "; ".join(alert.lines)))
    if not webhook:
        return False
    try:
        response = httpx.post(webhook, json=alert.payload(), timeout=TIMEOUT_S)
        if response.status_code >= 400:
            logger.error("alert webhook %s answered HTTP %s", _describe(webhook),
                         response.status_code)
            return False
        return True
    except Exception as exc:  # noqa: BLE001 - any transport error is just logged
        logger.error("alert webhook %s failed: %s", _describe(webhook),
                     redact(f"{type(exc).__name__}: {exc}"))
        return False
