"""kill -9 of `respmon station` mid-alarm, then a restart: what the station answered as written
(an acknowledgement, a verdict) is in the journal, and the page shows the still-active alarms again
(from the journal at once, confirmed by the beds' snapshots), with who acknowledged them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

from station_harness import Bed, Client, add_user, wait_for, write_config


def start_station(config) -> tuple[subprocess.Popen, str, list]:
    proc = subprocess.Popen([sys.executable, "-m", "respmon.cli", "station", "--config", str(config)],
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    url: list[str] = []
    ready = threading.Event()

    def read():
        for line in proc.stderr:
            lines.append(line)
            found = re.search(r"url=(http://\S+)", line)
            if found and not url:
                url.append(found.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    assert ready.wait(60) and url, "the station did not start: " + "".join(lines[-5:])
    return proc, url[0], lines


def shown(client, alarm_id):
    status, ward = client.json("GET", "/api/ward")
    return next((a for a in ward["alarms"] if a["id"] == alarm_id), None) if status == 200 else None


def test_kill_9_mid_alarm_loses_nothing_acknowledged(tmp_path):
    beds = [Bed("bed-1"), Bed("bed-2")]
    config = write_config(tmp_path, beds)
    add_user(config)
    stop = threading.Event()

    def beat():
        while not stop.is_set():
            for bed in beds:
                bed.heartbeat()
                bed.vitals()
            time.sleep(0.3)

    beater = threading.Thread(target=beat, daemon=True)
    beater.start()
    proc, url, _ = start_station(config)
    try:
        client = Client(url)
        assert client.login() == 303
        beds[0].alert("onset", alarm_id="apnea-1")
        beds[1].alert("onset", alarm_id="tachy-2", condition="tachypnea", priority="medium")
        wait_for(lambda: shown(client, "apnea-1") and shown(client, "tachy-2"), what="both onsets")
        status, _ = client.json("POST", "/api/alarms/bed-1/apnea-1/ack", {})
        assert status == 200
        status, _ = client.json("POST", "/api/alarms/bed-2/tachy-2/verdict", {"verdict": "confirmed", "note": "n"})
        assert status == 200
        # the tachypnea clears while the station is down
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        beds[1].alert("clear", alarm_id="tachy-2", condition="tachypnea", priority="medium", t=160.0)

        proc, url, _ = start_station(config)
        client = Client(url)
        assert client.login() == 303  # the operator account survived
        alarm = wait_for(lambda: shown(client, "apnea-1"), what="the active alarm after the restart")
        assert alarm["active"] and alarm["acknowledged_by"] == "nurse"
        # the bed's snapshot says the tachypnea ended (medium: not latched)
        wait_for(lambda: shown(client, "tachy-2") is None, what="the alarm that ended while down")
        status, bed = client.json("GET", "/api/beds/bed-2")
        judged = next(a for a in bed["alarms"] if a["id"] == "tachy-2")
        assert judged["verdict"]["verdict"] == "confirmed" and judged["verdict"]["operator"] == "nurse"
    finally:
        stop.set()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        for bed in beds:
            bed.close()


def test_sighup_adds_a_bed_to_the_running_station(tmp_path):
    beds = [Bed("bed-1"), Bed("bed-2")]
    config = write_config(tmp_path, beds[:1])
    add_user(config)
    proc, url, _ = start_station(config)
    try:
        client = Client(url)
        client.login()
        write_config(tmp_path, beds)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: [b["name"] for b in client.json("GET", "/api/ward")[1]["beds"]] == ["bed-1", "bed-2"],
                 what="bed-2 after SIGHUP")
        beds[1].heartbeat()
        beds[1].alert("onset", alarm_id="after-hup")
        wait_for(lambda: shown(client, "after-hup"), what="bed-2's alarm")
        assert proc.poll() is None  # the same process: no restart
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        for bed in beds:
            bed.close()
