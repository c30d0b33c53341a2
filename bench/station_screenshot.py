"""Screenshots of the ward and bed pages for docs/: 8 simulated beds (the demo's mix, seed 1) feeding a
station, a few alarms forced so the picture has them, headless Chromium after --wait seconds.

    .venv/bin/python bench/station_screenshot.py [--wait 150] [--out docs]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from respmon.simulate_cmd import SimulatedWard, ward_endpoints, ward_plans  # noqa: E402
from respmon.station.app import Station, bed_endpoints  # noqa: E402
from respmon.station.config import journal_url, load_station_config  # noqa: E402
from respmon.station.journal import open_journal  # noqa: E402
from station_harness import PASSWORD, add_user  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--wait", type=float, default=150.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="station-shot-"))
    endpoints = ward_endpoints("tcp://127.0.0.1:25600", 8)
    ward = SimulatedWard(ward_plans(8, seed=1), endpoints, insecure=True).start()
    beds = "".join(f"  - {{name: bed-{i + 1}, endpoint: \"{pub}\", snapshot_endpoint: \"{snap}\", insecure: true}}\n"
                   for i, (pub, snap) in enumerate(endpoints))
    config_path = folder / "station.yaml"
    config_path.write_text(f"station:\n  name: ward-3-north\n  port: 0\nbeds:\n{beds}")
    add_user(config_path, "m.dubois")
    config = load_station_config(config_path)
    station = Station(config, config_path, open_journal(journal_url(config, config_path)))
    ready = threading.Event()
    url: list[str] = []
    threading.Thread(target=lambda: asyncio.run(station.serve(
        bed_endpoints(config, config_path), ready=lambda u: (url.append(u), ready.set()), signals=False)),
        daemon=True).start()
    ready.wait(30)
    time.sleep(max(0.0, args.wait - 60))
    ward.force("bed-2", "central_apnea:40")
    ward.force("bed-6", "tachypnea@28:300")
    time.sleep(min(60.0, args.wait))
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,820"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(url[0] + "login")
        driver.find_element(By.NAME, "username").send_keys("m.dubois")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        time.sleep(3)
        driver.save_screenshot(str(args.out / "station-ward.png"))
        driver.set_window_size(1400, 1250)
        driver.get(url[0] + "bed/bed-2")
        time.sleep(3)
        for button in driver.find_elements(By.CSS_SELECTOR, '.range[data-span="900"]'):
            button.click()
        time.sleep(2)
        rows = driver.find_elements(By.CSS_SELECTOR, "#alarm-table tbody tr[data-alarm-id]")
        if rows:
            rows[0].click()
            time.sleep(2)
        driver.execute_script("window.scrollTo(0, 0)")
        time.sleep(0.5)
        driver.save_screenshot(str(args.out / "station-bed.png"))
    finally:
        driver.quit()
        station.stop()
        ward.stop()
    print(f"wrote {args.out / 'station-ward.png'} and {args.out / 'station-bed.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
