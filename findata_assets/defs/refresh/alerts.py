"""Alerts to a chat webhook (DingTalk, WeCom, Slack-compatible), never fatal, never secret-bearing.

FINDATA_ALERT_WEBHOOK: the URL to POST to (unset: alerts are only logged).
FINDATA_UI_URL: the Dagster UI's base URL, for links such as {UI}/runs/{run_id}.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import httpx

from findata_assets import environment, redaction
from findata_assets.redaction import safe_url
from findata_assets.settings import operations
from findata_assets.settings.operations import UI_URL_ENV, WEBHOOK_ENV  # noqa: F401
TIMEOUT_S = 5.0
MAX_TEXT = 1500  # chat webhooks cap message size; the link has the rest

log = logging.getLogger(__name__)

def redact(text: str) -> str:
    """redaction.redact, and the webhook's own URL (its query, access_token=..., is a secret)."""
    webhook = operations.alert_webhook(environment.current())
    if webhook:
        text = text.replace(webhook, safe_url(webhook))
    return redaction.redact(text)


def ui_link(path: str) -> str | None:
    base = operations.ui_url(environment.current())
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
        return redact(text)[:MAX_TEXT]  # redacted whole: a cut may split a secret

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
    webhook = webhook or operations.alert_webhook(environment.current())
    logger.warning("ALERT: %s", redact(alert.title + " | " + "; ".join(alert.lines)))
    if not webhook:
        return False
    try:
        response = httpx.post(webhook, json=alert.payload(), timeout=TIMEOUT_S)
        if response.status_code >= 400:
            logger.error("alert webhook %s answered HTTP %s", safe_url(webhook),
                         response.status_code)
            return False
        return True
    except Exception as exc:  # noqa: BLE001 - any transport error is just logged
        logger.error("alert webhook %s failed: %s", safe_url(webhook),
                     redact(f"{type(exc).__name__}: {exc}"))
        return False
