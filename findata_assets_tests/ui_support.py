"""What the UI tests share: a dagster-webserver over an instance, headless Debian chromium, and
a page visit that waits for what the page is for (and fails at once on an error page)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from findata_assets_tests.ports import pick_ports

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ERROR_TEXTS = ("Unexpected GraphQL error", "Something went wrong", "Page not found",
               "An unexpected error", "Could not load", "PythonError")
LOAD_S = 60


def require_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if missing:  # run_tests.sh installs them (as root); say what to do otherwise
        pytest.skip(f"no {', '.join(missing)}: apt-get install chromium chromium-driver")


@contextlib.contextmanager
def dagster_webserver(env: dict[str, str], workdir: Path) -> Iterator[str]:
    """`dagster-webserver -m findata_assets.definitions` with `env`; its base URL once it answers."""
    [port] = pick_ports(1)
    log_path = workdir / "webserver.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "dagster-webserver"), "-m",
                             "findata_assets.definitions", "-h", "127.0.0.1", "-p", str(port)],
                            env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            try:
                if httpx.get(f"{base}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)  # not up yet: poll again
        else:
            pytest.fail("dagster-webserver did not answer in 120 s")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def headless_chromium(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1600,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(LOAD_S)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot_folder(default: Path) -> Path:
    """FINDATA_TEST_SCREENSHOTS when set (the closing note's figures), else `default`."""
    folder = os.environ.get("FINDATA_TEST_SCREENSHOTS")
    path = Path(folder) if folder else default
    path.mkdir(parents=True, exist_ok=True)
    return path


def show(driver, url: str, shots: Path, name: str, *expected: str) -> str:
    """Open `url` and wait until every `expected` text shows; the page's text. Fails at once on
    an error page, and on a view that never shows what it is for; screenshots it either way."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    seen = {"text": ""}

    def shown(d):
        for button in d.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
            button.click()  # Dagster's first-visit newsletter dialog
        text = seen["text"] = d.find_element(By.TAG_NAME, "body").text
        errors = [e for e in ERROR_TEXTS if e in text]
        assert not errors, f"{url}: error page ({errors}):\n{text[:2000]}"
        return text if all(e in text for e in expected) else False

    driver.get(url)
    try:
        text = WebDriverWait(driver, LOAD_S, poll_frequency=0.5,
                             ignored_exceptions=(StaleElementReferenceException,)).until(shown)
    except TimeoutException:
        text = seen["text"]
    finally:
        driver.save_screenshot(str(shots / f"{name}.png"))
    missing = [e for e in expected if e not in text]
    assert not missing, f"{url}: never showed {missing} in {LOAD_S} s:\n{text[:3000]}"
    return text
