"""The ward page in a real browser: headless Chromium (Debian's chromium and chromium-driver, which
scripts/test.sh installs) logs in, sees 8 beds, sees a central apnea onset on the right tile within
1 s of its ZeroMQ message, acknowledges it and records a verdict; the journal holds all three with
the operator's name. The run writes a screenshot of the ward page to out/station-ward.png."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from station_harness import PASSWORD, Bed, RunningStation, add_user, wait_for, write_config

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SCREENSHOT = Path(__file__).resolve().parents[1] / "out" / "station-ward.png"

if not (CHROMIUM and DRIVER):
    if os.environ.get("RESPMON_REQUIRE_BROWSER") == "1":
        pytest.fail("chromium and chromium-driver are required here (scripts/test.sh installs them)",
                    pytrace=False)
    pytest.skip("no chromium/chromedriver: apt-get install chromium chromium-driver (scripts/test.sh does)",
                allow_module_level=True)

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900",
                "--disable-gpu", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def actions(folder: Path) -> list[tuple]:
    con = sqlite3.connect(folder / "station.db")
    try:
        return con.execute("SELECT action, operator, bed, alarm_id FROM actions ORDER BY id").fetchall()
    finally:
        con.close()


def onsets(folder: Path) -> list[tuple]:
    con = sqlite3.connect(folder / "station.db")
    try:
        return con.execute("SELECT bed, alarm_id, condition FROM alert_events WHERE event = 'onset'").fetchall()
    finally:
        con.close()


def find(driver, css):
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0] if found else None


def test_nurse_sees_acknowledges_and_judges_an_apnea(tmp_path, browser):
    beds = [Bed(f"bed-{i}") for i in range(1, 9)]
    config = write_config(tmp_path, beds)
    add_user(config)
    stop = threading.Event()

    def living_ward():
        rates = {b.name: 12.0 + i for i, b in enumerate(beds)}
        while not stop.is_set():
            for bed in beds:
                bed.heartbeat()
                bed.vitals(None if bed.name == "bed-5" and bed.active else rates[bed.name],
                           "apnea" if bed.active else "breathing")
            time.sleep(0.5)

    feeder = threading.Thread(target=living_ward, daemon=True)
    feeder.start()
    station = RunningStation(config)
    try:
        browser.get(station.url + "login")
        browser.find_element(By.NAME, "username").send_keys("nurse")
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "button[type=submit], input[type=submit]").click()
        wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#ward .tile[data-bed]")) == 8,
                 timeout_s=20, what="8 bed tiles")
        wait_for(lambda: find(browser, '.tile[data-bed="bed-8"][data-link="up"]'), timeout_s=20, what="beds up")
        time.sleep(1.0)  # the event stream is open and quiet

        msg = beds[4].alert("onset", alarm_id="apnea-5")  # bed-5
        tile_alarm = '.tile[data-bed="bed-5"] .alarm[data-alarm-id="apnea-5"]'
        wait_for(lambda: find(browser, tile_alarm), timeout_s=10, what="the apnea on bed-5's tile")
        shown_ms = browser.execute_script("return window.respmonShown['apnea-5']")
        latency_s = shown_ms / 1000.0 - msg["time"]
        print(f"alert to tile: {latency_s * 1000:.0f} ms")
        assert 0 <= latency_s <= 1.0
        alarm = find(browser, tile_alarm)
        assert alarm.get_attribute("data-priority") == "high"
        assert alarm.get_attribute("data-condition") == "central_apnea"
        assert all(find(browser, f'.tile[data-bed="bed-{i}"] .alarm') is None for i in (1, 2, 3, 4, 6, 7, 8))
        SCREENSHOT.parent.mkdir(exist_ok=True)
        browser.save_screenshot(str(SCREENSHOT))

        find(browser, '#alarm-list button.ack[data-alarm-id="apnea-5"]').click()
        wait_for(lambda: ("acknowledge", "nurse", "bed-5", "apnea-5") in actions(tmp_path), what="the ack journaled")
        find(browser, '#alarm-list button.verdict[data-alarm-id="apnea-5"]').click()
        form = wait_for(lambda: (f := find(browser, "#verdict-form")) and f.is_displayed() and f, what="verdict form")
        Select(form.find_element(By.CSS_SELECTOR, "select[name=verdict]")).select_by_value("confirmed")
        form.find_element(By.CSS_SELECTOR, "textarea[name=note]").send_keys("no chest movement seen")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(lambda: ("verdict", "nurse", "bed-5", "apnea-5") in actions(tmp_path), what="the verdict journaled")
        wait_for(lambda: ("bed-5", "apnea-5", "central_apnea") in onsets(tmp_path), what="the onset journaled")
        # the alarm stays on the tile (still active), marked acknowledged by the nurse
        assert "nurse" in find(browser, tile_alarm).text
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == [], errors
    finally:
        stop.set()
        station.stop()
        for bed in beds:
            bed.close()
