"""The group pages in a real browser: Debian's Chromium, headless, driven by Selenium
through the system's chromedriver (`make test` installs both with apt when missing),
against the real `group-etl serve`. Search, open a company, read its feed and charts,
pick an earlier day, page the feed; a screenshot is kept."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.companies import build_companies
from tests.serving import SECRET, USER, running_server

pytestmark = pytest.mark.slow
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def browser(width: int = 1280, height: int = 1500):  # noqa: ANN201
    """Headless Chromium that sends the service account's credentials with every request."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    token = base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})
    return driver


def screenshot(url: str, path: Path) -> None:
    """A full-page PNG of `url` (the README's picture is made with this)."""
    driver = browser()
    try:
        driver.get(url)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, max(height, 800))
        driver.save_screenshot(str(path))
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def site(module_settings, tmp_path_factory) -> Iterator[str]:  # noqa: ANN001
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("chromium and chromedriver are missing: `make test` installs them "
                    "(apt-get install chromium chromium-driver)")
    build_companies(module_settings)
    with running_server(module_settings, tmp_path_factory.mktemp("log") / "serve.log") as base:
        yield base


def click_and_wait(driver, element) -> None:  # noqa: ANN001
    """Click a link or button that loads a page, and wait for the new page: a click
    returns before the navigation ends (on a loaded machine, the next lookup read the
    old page: CI failed so)."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    element.click()
    wait = WebDriverWait(driver, 60)
    wait.until(expected_conditions.staleness_of(element))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def test_a_company_page_in_chromium(site, tmp_path) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    driver = browser()
    try:
        driver.get(f"{site}/groups")
        driver.find_element(By.NAME, "where").send_keys('plan == "enterprise"')
        click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        links = driver.find_elements(By.CSS_SELECTOR, "#results a")
        assert [a.text for a in links] == ["c1", "c2"]
        click_and_wait(driver, links[0])

        assert driver.find_element(By.ID, "group").text == "Acme"
        feed = [row.find_elements(By.TAG_NAME, "td")[1].text for row in driver.find_elements(By.CSS_SELECTOR, "#feed tr.event")]
        assert feed == ["Log in", "Purchase", "Purchase", "Purchase", "Sign up"]
        assert [s.text for s in driver.find_elements(By.CSS_SELECTOR, "#cohorts .pill")] == ["enterprise #1"]
        charts = driver.find_elements(By.CSS_SELECTOR, "#activity svg")
        assert [c.get_attribute("aria-label") for c in charts] == ["active users per day", "events per day"]
        assert all(c.size["width"] == 640 and c.size["height"] == 180 for c in charts)  # drawn, laid out
        assert driver.find_elements(By.TAG_NAME, "script") == []  # no script on the page
        (tmp_path / "page.png").write_bytes(driver.get_screenshot_as_png())
        assert (tmp_path / "page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        # the as-of picker: the day before c1 moved to enterprise
        driver.execute_script("document.querySelector('#as-of input[name=as_of]').value = '2026-06-01'")
        click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "#as-of button"))
        assert "as_of=2026-06-01" in driver.current_url
        rows = {r.find_element(By.TAG_NAME, "th").text: r.find_element(By.TAG_NAME, "td").text
                for r in driver.find_elements(By.CSS_SELECTOR, "#profile tr")}
        assert rows["plan"] == "pro"
        assert len(driver.find_elements(By.CSS_SELECTOR, "#feed tr.event")) == 3
    finally:
        driver.quit()
