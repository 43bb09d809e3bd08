"""The LLM narrative against a fake OpenAI-compatible server: request shape, one request per
digest, retries and degradation, and the key kept out of everything."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time

import pytest

from findata_assets.analysis import digest as digests
from findata_assets.analysis import narrative
from findata_assets.eastmoney import catalog
from findata_assets.storage.object_store import LocalObjectStore
from findata_assets.storage.warehouse import Warehouse
from findata_assets_tests.fake_openai import FakeOpenAI, narrative_for
from findata_assets_tests.flow_rows import make_day, store_day

KEY = "sk-test-9f8e7d6c5b4a39281706"
DAY = dt.date(2026, 3, 10)


@pytest.fixture(autouse=True)
def _no_real_llm_env(monkeypatch):
    for name in ("DEEPSEEK_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def digest(tmp_path_factory):
    wh = Warehouse(f"sqlite:///{tmp_path_factory.mktemp('wh') / 'n.db'}")
    store_day(wh, make_day(DAY, n_stocks=200, n_sectors=30))
    d = digests.compute(digests.load_inputs(wh, DAY))
    wh.dispose()
    return d


@pytest.fixture
def llm():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def cache(tmp_path):
    return LocalObjectStore(tmp_path / "store")


def config(fake: FakeOpenAI, **overrides) -> narrative.LLMConfig:
    values = dict(base_url=fake.base_url, model="deepseek-chat", api_key=KEY, backoff_s=0.01,
                  max_retries=2, timeout_s=5)
    return narrative.LLMConfig(**{**values, **overrides})


def test_the_request_has_the_openai_shape_and_the_answer_is_used(llm, digest, cache):
    h = digests.digest_hash(digest)
    result = narrative.generate(digest, h, config(llm), cache=cache)
    assert result.status == "ok" and result.requests == 1
    [request] = llm.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"].startswith("application/json")
    body = request.body
    assert body["model"] == "deepseek-chat" and body["stream"] is False
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "简体中文" in body["messages"][0]["content"]  # Chinese by default
    sent = json.loads(body["messages"][1]["content"].split("\n", 1)[1])
    assert sent == json.loads(digests.canonical_json(narrative.prompt_view(digest)))
    top = digest["markets"]["all"]["top"][0]
    assert sent["top_inflow_stocks"][0] == {"code": top["code"], "name": top["name"],
                                            "main_net_yi": round(top["main_net"] / 1e8, 2),
                                            "change_pct": round(top["change_pct"], 2)}
    assert result.text == narrative_for(body)
    prompt_chars = sum(len(m["content"]) for m in body["messages"])
    assert (result.prompt_tokens, result.completion_tokens) == (
        prompt_chars // 2, len(result.text) // 2)


def test_english_and_a_base_url_without_v1(llm, digest):
    result = narrative.generate(digest, "h-en", config(llm, base_url=llm.url, lang="en"))
    assert result.status == "ok"
    assert llm.requests[0].path == "/chat/completions"
    assert "in English" in llm.requests[0].body["messages"][0]["content"]


def test_the_same_digest_is_paid_for_once(llm, digest, cache):
    h = digests.digest_hash(digest)
    first = narrative.generate(digest, h, config(llm), cache=cache)
    second = narrative.generate(digest, h, config(llm), cache=cache)
    assert len(llm.requests) == 1
    assert second.status == "cached" and second.requests == 0
    assert (second.text, second.prompt_tokens, second.completion_tokens) == (
        first.text, first.prompt_tokens, first.completion_tokens)
    # a different digest, model or language is a different narrative
    narrative.generate(digest, "other-hash", config(llm), cache=cache)
    narrative.generate(digest, h, config(llm, model="deepseek-reasoner"), cache=cache)
    narrative.generate(digest, h, config(llm, lang="en"), cache=cache)
    assert len(llm.requests) == 4
    # without a cache nothing stops a second payment: the cache is what saves it
    narrative.generate(digest, h, config(llm))
    assert len(llm.requests) == 5


def test_429_and_5xx_are_retried_with_backoff(llm, digest, cache, caplog):
    llm.fail_next(429, 503)
    sleeps = []
    with caplog.at_level(logging.WARNING):
        result = narrative.generate(digest, "h", config(llm), cache=cache, sleep=sleeps.append)
    assert result.status == "ok" and result.requests == 3
    assert [r.status for r in llm.requests] == [429, 503, 200]
    assert sleeps == [0.01, 0.01]  # the server's retry-after-ms (10 ms) is honoured
    assert sum("retrying" in r.getMessage() for r in caplog.records) == 2


def test_backoff_doubles_when_the_server_gives_no_retry_after(digest):
    with FakeOpenAI(retry_after_ms=None) as fake:
        fake.fail_next(500, 500)
        sleeps = []
        result = narrative.generate(digest, "h", config(fake, backoff_s=1.0), sleep=sleeps.append)
    assert result.status == "ok"
    assert 0.75 <= sleeps[0] <= 1.0 and 1.5 <= sleeps[1] <= 2.0


def test_an_outage_degrades_loudly_and_is_not_cached(llm, digest, cache, caplog):
    llm.set_failure(500)
    with caplog.at_level(logging.WARNING):
        result = narrative.generate(digest, "h", config(llm, max_retries=2), cache=cache)
    assert result.status == "failed" and result.text is None
    assert result.requests == 3 == len(llm.requests)
    assert "HTTP 500" in result.detail and "3 attempt(s)" in result.detail
    assert any("LLM NARRATIVE FAILED" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)
    assert cache.list_keys(narrative.CACHE_PREFIX) == []
    llm.set_failure(None)  # back up: the next run pays once and succeeds
    assert narrative.generate(digest, "h", config(llm), cache=cache).status == "ok"


def test_client_errors_are_not_retried(llm, digest):
    llm.set_failure(401)
    result = narrative.generate(digest, "h", config(llm))
    assert result.status == "failed" and len(llm.requests) == 1
    assert "HTTP 401" in result.detail


def test_a_slow_server_times_out_within_the_budget(llm, digest):
    llm.set_delay(3.0)
    started = time.monotonic()
    result = narrative.generate(digest, "h", config(llm, timeout_s=0.3, max_retries=1))
    elapsed = time.monotonic() - started
    assert result.status == "failed" and "Timeout" in result.detail
    assert len(llm.requests) == 2 and elapsed < 2.5


def test_no_key_skips_without_a_request(llm, digest, cache):
    result = narrative.generate(digest, "h", config(llm, api_key=None), cache=cache)
    assert result.status == "skipped" and "DEEPSEEK_API_KEY" in result.detail
    assert llm.requests == []


def test_the_key_never_reaches_errors_logs_or_the_cache(llm, digest, cache, caplog):
    llm.echo_auth = True  # the provider quotes the Authorization header in its error bodies
    llm.fail_next(429)
    llm.set_failure(401)
    with caplog.at_level(logging.DEBUG):
        failed = narrative.generate(digest, "h", config(llm), cache=cache)
    assert failed.status == "failed"
    assert "Authorization" in failed.detail  # the echo did arrive ...
    assert KEY not in failed.detail and KEY not in json.dumps(failed.metadata())  # ... masked
    llm.set_failure(None)
    llm.echo_auth = False
    with caplog.at_level(logging.DEBUG):
        ok = narrative.generate(digest, "h", config(llm), cache=cache)
    assert ok.status == "ok"
    assert KEY not in caplog.text and KEY[6:] not in caplog.text
    for key in cache.list_keys(""):
        assert KEY.encode() not in cache.get_bytes(key)
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in llm.requests)  # it was sent


def test_redact_masks_the_key_and_key_shaped_strings():
    text = f"boom: Authorization: Bearer {KEY}; also sk-abcdef123456 and {KEY}"
    masked = narrative.redact(text, KEY)
    assert KEY not in masked and "sk-abcdef123456" not in masked and "Bearer ***" in masked


def test_the_prompt_stays_small(digest):
    messages = narrative.build_messages(digest, "zh")
    assert sum(len(m["content"]) for m in messages) < 12_000
    assert catalog.MARKETS["all"].label_zh in messages[1]["content"]


@pytest.mark.parametrize("url,masked", [
    ("mysql+pymysql://findata:pw@db:3306/findata?charset=utf8mb4", "mysql+pymysql://findata:***@db:3306/findata"),
    ("sqlite:////var/lib/findata/findata.db", "sqlite:////var/lib/findata/findata.db"),  # absolute
    ("sqlite:///findata.db", "sqlite:///findata.db"),  # relative
    ("https://api.deepseek.com/v1?key=x", "https://api.deepseek.com/v1"),
])
def test_mask_url_keeps_the_path_and_hides_the_password(url, masked):
    from findata_assets.redaction import mask_url

    assert mask_url(url) == masked
