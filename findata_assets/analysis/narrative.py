"""The narrative: an OpenAI-compatible chat model (DeepSeek by default) writes up the digest.

Rules this module keeps:
- the same digest is paid for once: results are cached in the object store under
  `llm-cache/<sha256(digest hash, model, prompt version, language)>.json`, consulted first;
- no key (DEEPSEEK_API_KEY unset) -> status "skipped", no request; an outage that outlasts the
  retries -> status "failed" with a loud warning. Neither raises: the digest alone is still useful;
- retries are ours (the client's own are off), so each attempt and its backoff is logged: 408, 409,
  429, 5xx, timeouts and connection errors retry with exponential backoff (Retry-After honoured);
- the key never reaches a log line, metadata, a stored object or an error text: every message
  that could carry it goes through `redact`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Optional

from findata_assets import cancellation, redaction
from findata_assets.analysis.digest import REQUIRED_TABLE, canonical_json
from findata_assets.eastmoney.catalog import YI
from findata_assets.settings.analysis import DEFAULT_BASE_URL, DEFAULT_MODEL

PROMPT_VERSION = "ff-narrative-v1"
CACHE_PREFIX = "llm-cache"
RETRY_STATUSES = (408, 409, 429)
MAX_BACKOFF_S = 30.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LLMConfig:
    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    api_key: Optional[str] = field(default=None, repr=False)
    lang: str = "zh"
    timeout_s: float = 60.0
    max_retries: int = 3
    backoff_s: float = 1.0
    max_tokens: int = 1500
    temperature: float = 0.3


@dataclass
class NarrativeResult:
    status: str  # ok | cached | skipped | failed
    text: Optional[str]
    model: str
    prompt_version: str
    lang: str
    detail: Optional[str] = None  # why skipped or failed; never carries the key
    prompt_tokens: Optional[int] = None  # what the narrative cost (also when served from cache)
    completion_tokens: Optional[int] = None
    requests: int = 0  # HTTP requests made in this call (0 when cached or skipped)
    seconds: float = 0.0
    cache_key: Optional[str] = None

    def metadata(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "text"}


# --- secrets --------------------------------------------------------------------------------------

def redact(text: str, secret: Optional[str]) -> str:
    """Mask the key (and anything key-shaped) in a message meant for logs or metadata."""
    return redaction.redact(text, [secret])


# --- prompt ---------------------------------------------------------------------------------------

def _yi(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value / YI, 2)


def _names(entries, with_pct: bool = True) -> list[dict]:
    out = []
    for e in entries:
        item = {"code": e["code"], "name": e.get("name"), "main_net_yi": _yi(e.get("main_net"))}
        if with_pct and e.get("change_pct") is not None:
            item["change_pct"] = round(e["change_pct"], 2)
        out.append(item)
    return out


def prompt_view(digest: Mapping[str, Any]) -> dict:
    """The part of the digest the model sees: amounts in 亿元, 2 decimals, shortest lists."""
    markets = {}
    for key, m in digest["markets"].items():
        b, d = m["breadth"], m["divergence"]
        markets[key] = {
            "name": m["label_zh"], "stocks": m["rows"],
            "inflow_share_pct": None if b["share_inflow"] is None else round(100 * b["share_inflow"], 1),
            "main_net_yi": _yi(m["flows"]["main_net"]),
            "order_split_yi": {k: _yi(v) for k, v in m["flows"].items() if k != "main_net"},
            "main_vs_retail_yi": {"main": _yi(d["main_net"]), "retail_small": _yi(d["retail_net"])},
            "main_in_retail_out": d["main_in_retail_out"],
            "main_out_retail_in": d["main_out_retail_in"],
        }
    all_stocks = digest["markets"]["all"]
    view = {
        "trade_date": digest["trade_date"],
        "data_time": digest["snapshot"]["updated_at"],
        "markets": markets,
        "top_inflow_stocks": _names(all_stocks["top"]),
        "top_outflow_stocks": _names(all_stocks["bottom"]),
        "boards": {key: {"name": b["label_zh"], "leaders": _names(b["leaders"][:5]),
                         "laggards": _names(b["laggards"][:5])}
                   for key, b in digest["boards"].items()},
    }
    persistence = digest.get("stock_persistence")
    if persistence:
        view["persistent_stock_leaders"] = [p["name"] or p["code"] for p in persistence["leaders"]]
        view["persistent_stock_laggards"] = [p["name"] or p["code"] for p in persistence["laggards"]]
    for key, b in digest["boards"].items():
        if b.get("persistence"):
            view["boards"][key]["persistent_leaders"] = [
                p["name"] or p["code"] for p in b["persistence"]["leaders"]]
    history = digest.get("history") or {}
    if "coverage" in history:
        view["history"] = history_view(history)
    if digest.get("missing"):  # a backfilled day, a day missing tables: say what is not there
        view["not_available"] = sorted(digest["missing"])
    if digest["snapshot"].get("source_table") != REQUIRED_TABLE.name:
        view["day_source"] = digest["snapshot"].get("source_table")
    return view


def _sums(entries) -> list[dict]:
    return [{"name": e.get("name") or e["code"], "main_net_yi": _yi(e["main_net_sum"]),
             **({"days": e["days"]} if "since" in e else {})} for e in entries[:5]]


def history_view(history: Mapping[str, Any]) -> dict:
    """The daily history for the model: the windows' and streaks' first five, the market."""
    out: dict[str, Any] = {"days_held": history["coverage"]["days"]}
    for key, window in history.get("windows", {}).items():
        if "leaders" in window:
            out[f"main_net_{key}"] = {"leaders": _sums(window["leaders"]),
                                      "laggards": _sums(window["laggards"])}
    streaks = history.get("streaks", {})
    if "inflow" in streaks:
        out["streaks_days"] = {"inflow": _sums(streaks["inflow"]),
                               "outflow": _sums(streaks["outflow"])}
    market = history.get("market", {})
    if "series" in market:
        change = market["sh_change_pct"]
        out["market_20d"] = {"main_net_yi": _yi(market["main_net_sum"]),
                             "inflow_days": market["inflow_days"], "end": market["end"],
                             "sh_change_pct": None if change is None else round(change, 2)}
    return out


SYSTEM_PROMPTS = {
    "zh": ("你是一名严谨的A股资金流向分析师。只使用用户提供的数据，不要编造数字或新闻，不给出买卖建议。"
           "用简体中文写一份约400-600字的Markdown日报解读，包含以下小节（用###标题）："
           "市场概览、板块轮动、个股焦点、主力与散户、持续性观察、风险提示。金额单位为亿元。"
           "若摘要含 history（5日/20日累计主力净流入、连续净流入/净流出天数、大盘20日主力资金），"
           "在持续性观察中引用。"),
    "en": ("You are a careful analyst of China A-share fund flows. Use only the data given, invent no "
           "figures or news, give no buy/sell advice. Write a 300-450 word Markdown commentary in "
           "English with these ### sections: Market overview, Sector rotation, Stocks in focus, "
           "Main vs retail, Persistence, Risks. Amounts are in 100 million yuan (yi). If the digest has "
           "`history` (5/20-day sums, inflow/outflow streaks, the market's 20 days), use it under "
           "Persistence."),
}


def build_messages(digest: Mapping[str, Any], lang: str) -> list[dict]:
    intro = {"zh": "以下是当日资金流向摘要（JSON）：\n", "en": "The day's fund-flow digest (JSON):\n"}[lang]
    return [{"role": "system", "content": SYSTEM_PROMPTS[lang]},
            {"role": "user", "content": intro + canonical_json(prompt_view(digest))}]


def cache_key(digest_hash: str, config: LLMConfig) -> str:
    ident = "|".join((digest_hash, config.model, PROMPT_VERSION, config.lang))
    return f"{CACHE_PREFIX}/{hashlib.sha256(ident.encode()).hexdigest()}.json"


# --- the call -------------------------------------------------------------------------------------

class _GaveUp(Exception):
    def __init__(self, detail: str, requests: int):
        super().__init__(detail)
        self.detail, self.requests = detail, requests


def _retry_after(exc) -> Optional[float]:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            return float(headers[name]) / divisor
        except (KeyError, TypeError, ValueError):
            continue
    return None


def _describe(exc: Exception, secret: Optional[str]) -> str:
    status = getattr(exc, "status_code", None)
    message = str(getattr(exc, "message", None) or exc)[:300]
    head = type(exc).__name__ + (f" (HTTP {status})" if status else "")
    return redact(f"{head}: {message}", secret)


def _chat(config: LLMConfig, messages: list[dict], logger, sleep: Callable[[float], None]):
    import openai  # slow import: only when a request is actually made

    client = openai.OpenAI(api_key=config.api_key, base_url=config.base_url,
                           timeout=config.timeout_s, max_retries=0)
    attempts = config.max_retries + 1
    try:
        for attempt in range(1, attempts + 1):
            cancellation.check()  # the operator stopped the run: no further attempt
            try:
                response = client.chat.completions.create(
                    model=config.model, messages=messages, temperature=config.temperature,
                    max_tokens=config.max_tokens, stream=False)
                return response, attempt
            except openai.APIStatusError as exc:
                retry = exc.status_code in RETRY_STATUSES or exc.status_code >= 500
                error = exc
            except openai.APIConnectionError as exc:  # includes APITimeoutError
                retry, error = True, exc
            detail = _describe(error, config.api_key)
            if not retry or attempt == attempts:
                raise _GaveUp(f"{detail} after {attempt} attempt(s)", attempt)
            delay = _retry_after(error)
            if delay is None or not 0 <= delay <= MAX_BACKOFF_S:
                delay = min(config.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S)
                delay *= 1 - 0.25 * random.random()  # jitter: parallel runs do not retry in step
            logger.warning(f"LLM attempt {attempt}/{attempts} failed: {detail}; "
                           f"retrying in {delay:.2f} s")
            sleep(delay)
    finally:
        client.close()
    raise AssertionError("unreachable")


def generate(digest: Mapping[str, Any], digest_hash: str, config: LLMConfig, cache=None,
             logger=log, sleep: Callable[[float], None] = time.sleep) -> NarrativeResult:
    """The narrative of a digest: from the cache, from the model, or skipped/failed (no raise)."""
    key = cache_key(digest_hash, config)
    result = NarrativeResult("skipped", None, config.model, PROMPT_VERSION, config.lang,
                             cache_key=key)
    if cache is not None and cache.exists(key):
        cached = json.loads(cache.get_bytes(key))
        result.status, result.text = "cached", cached["text"]
        result.prompt_tokens, result.completion_tokens = cached.get("prompt_tokens"), cached.get(
            "completion_tokens")
        result.detail = f"same digest already narrated at {cached.get('created_at')}"
        logger.info(f"LLM narrative served from cache {key} (no request made)")
        return result
    if not config.api_key:
        result.detail = "no API key: DEEPSEEK_API_KEY is not set, narrative skipped"
        logger.warning(f"LLM narrative skipped: {result.detail}")
        return result
    started = time.monotonic()
    try:
        response, result.requests = _chat(config, build_messages(digest, config.lang), logger, sleep)
        text = (response.choices[0].message.content or "").strip() if response.choices else ""
        if not text:
            raise _GaveUp("the model returned an empty answer", result.requests)
    except _GaveUp as exc:
        result.status, result.detail, result.requests = "failed", exc.detail, exc.requests
        result.seconds = round(time.monotonic() - started, 3)
        logger.warning(f"!!! LLM NARRATIVE FAILED ({config.model} at {config.base_url}): "
                       f"{exc.detail}. The analysis is stored without a narrative. !!!")
        return result
    except Exception as exc:  # noqa: BLE001 - a malformed answer must not fail the digest
        result.status, result.detail = "failed", _describe(exc, config.api_key)
        result.seconds = round(time.monotonic() - started, 3)
        logger.warning(f"!!! LLM NARRATIVE FAILED: {result.detail} !!!")
        return result
    usage = response.usage
    result.status, result.text = "ok", redact(text, config.api_key)
    result.prompt_tokens = getattr(usage, "prompt_tokens", None)
    result.completion_tokens = getattr(usage, "completion_tokens", None)
    result.model = getattr(response, "model", None) or config.model
    result.seconds = round(time.monotonic() - started, 3)
    if cache is not None:
        record = {"text": result.text, "model": result.model, "prompt_version": PROMPT_VERSION,
                  "lang": config.lang, "digest_hash": digest_hash,
                  "prompt_tokens": result.prompt_tokens,
                  "completion_tokens": result.completion_tokens,
                  "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        cache.put_bytes(key, json.dumps(record, ensure_ascii=False).encode(), "application/json")
    return result
