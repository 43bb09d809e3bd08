"""HistorySettings.from_env: defaults, the URL that follows FINDATA_EASTMONEY_URL, validation."""

from __future__ import annotations

import pytest

from findata_assets.eastmoney import endpoint
from findata_assets.eastmoney.kline_fetch import HistoryFetcher
from findata_assets.settings import SettingsError, load
from findata_assets.settings.eastmoney import EastmoneySettings
from findata_assets.settings.history import HISTORY_URL, HistorySettings

PASSWORD = "pw-Never-Shown-42"


def test_defaults_are_the_real_endpoint_and_a_polite_pace():
    s = HistorySettings.from_env({})
    assert s.url == HISTORY_URL == "https://push2his.eastmoney.com/api/qt/stock/fflow/daykline/get"
    assert (s.concurrency, s.min_interval_ms, s.min_interval_s) == (1, 1000, 1.0)
    assert s.window == "outside_session" and s.ban_after == 3
    assert (s.ban_cooldown_s, s.ban_max_cooldown_s) == (60.0, 1800.0)
    assert not s.url_derived
    assert load({}).history == s  # part of every load


def test_every_setting_is_read():
    s = HistorySettings.from_env({
        "FINDATA_HISTORY_URL": "http://127.0.0.1:8000", "FINDATA_HISTORY_CONCURRENCY": "2",
        "FINDATA_HISTORY_MIN_INTERVAL_MS": "0", "FINDATA_HISTORY_WINDOW": "Always",
        "FINDATA_HISTORY_BAN_AFTER": "5", "FINDATA_HISTORY_BAN_COOLDOWN_S": "0.5",
        "FINDATA_HISTORY_BAN_MAX_COOLDOWN_S": "4"})
    assert s.url == "http://127.0.0.1:8000/api/qt/stock/fflow/daykline/get"  # a bare host
    assert (s.concurrency, s.min_interval_ms, s.window) == (2, 0, "always")
    assert (s.ban_after, s.ban_cooldown_s, s.ban_max_cooldown_s) == (5, 0.5, 4.0)


@pytest.mark.parametrize("eastmoney_url, history_url", [
    ("https://push2.eastmoney.com/api/qt/clist/get", HISTORY_URL),
    ("http://82.push2.eastmoney.com/api/qt/clist/get", HISTORY_URL),
    ("http://127.0.0.1:8123/api/qt/clist/get",
     "http://127.0.0.1:8123/api/qt/stock/fflow/daykline/get"),
    ("http://127.0.0.1:8123", "http://127.0.0.1:8123/api/qt/stock/fflow/daykline/get"),
    (f"https://user:{PASSWORD}@proxy.example:8443/em/api/qt/clist/get",
     f"https://user:{PASSWORD}@proxy.example:8443/api/qt/stock/fflow/daykline/get"),
])
def test_the_url_follows_the_eastmoney_url_when_it_points_elsewhere(eastmoney_url, history_url):
    s = HistorySettings.from_env({"FINDATA_EASTMONEY_URL": eastmoney_url})
    assert s.url == history_url and s.url_derived == (history_url != HISTORY_URL)
    assert PASSWORD not in repr(s)


def test_an_explicit_history_url_wins():
    s = HistorySettings.from_env({"FINDATA_EASTMONEY_URL": "http://127.0.0.1:1",
                                  "FINDATA_HISTORY_URL": "http://10.0.0.2:9/daykline"})
    assert s.url == "http://10.0.0.2:9/daykline" and not s.url_derived


def test_a_derived_url_says_where_it_came_from_in_endpoint_errors():
    env = {"FINDATA_EASTMONEY_URL": f"http://u:{PASSWORD}@127.0.0.1:8123"}
    fetcher = HistoryFetcher(HistorySettings.from_env(env), EastmoneySettings.from_env(env))
    error = endpoint.http_status_error(404, fetcher.safe_url, fetcher.target)
    assert "FINDATA_HISTORY_URL (unset, so derived from FINDATA_EASTMONEY_URL)" in str(error)
    assert PASSWORD not in str(error) and fetcher.url.startswith("http://127.0.0.1:8123/")


@pytest.mark.parametrize("name, value, words", [
    ("FINDATA_HISTORY_URL", "ftp://host/x", "FINDATA_HISTORY_URL must be an http(s) URL like "
                                            "https://push2his"),
    ("FINDATA_HISTORY_URL", "http://h:99999/x", "FINDATA_HISTORY_URL has an invalid port"),
    ("FINDATA_EASTMONEY_URL", "push2.eastmoney.com", "FINDATA_EASTMONEY_URL must be"),
    ("FINDATA_HISTORY_CONCURRENCY", "0", "FINDATA_HISTORY_CONCURRENCY must be at least 1"),
    ("FINDATA_HISTORY_CONCURRENCY", "two", "FINDATA_HISTORY_CONCURRENCY must be a whole number"),
    ("FINDATA_HISTORY_MIN_INTERVAL_MS", "-5", "FINDATA_HISTORY_MIN_INTERVAL_MS must be at least 0"),
    ("FINDATA_HISTORY_WINDOW", "nights", "FINDATA_HISTORY_WINDOW must be one of"),
    ("FINDATA_HISTORY_BAN_AFTER", "0", "FINDATA_HISTORY_BAN_AFTER must be at least 1"),
    ("FINDATA_HISTORY_BAN_COOLDOWN_S", "nan", "FINDATA_HISTORY_BAN_COOLDOWN_S must be a finite"),
    ("FINDATA_HISTORY_BAN_COOLDOWN_S", "0", "FINDATA_HISTORY_BAN_COOLDOWN_S must be at least"),
    ("FINDATA_HISTORY_BAN_MAX_COOLDOWN_S", "30", "FINDATA_HISTORY_BAN_MAX_COOLDOWN_S=30 is "
                                                 "shorter than FINDATA_HISTORY_BAN_COOLDOWN_S=60"),
])
def test_bad_values_name_their_variable(name, value, words):
    with pytest.raises(SettingsError) as err:
        load({name: value})
    assert words in str(err.value)


@pytest.mark.parametrize("name", ["FINDATA_HISTORY_URL", "FINDATA_EASTMONEY_URL"])
def test_credentials_never_reach_an_error(name):
    with pytest.raises(SettingsError) as err:
        HistorySettings.from_env({name: f"http://user:{PASSWORD}@host:badport/x"})
    assert PASSWORD not in str(err.value) and name in str(err.value)
