"""The station end to end without a browser: real beds (respmon's Publisher) over ZeroMQ, a real
station on a real SQLite journal, HTTP as a page uses it. What an operator does is journaled with
their name; what an attacker or a stale page does is refused and changes nothing."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import datetime

import pytest

from respmon.cli import main
from station_harness import Bed, Client, RunningStation, add_user, wait_for, write_config


def actions(folder, action=None):
    """The journal's operator actions, read as anyone with the file would."""
    con = sqlite3.connect(folder / "station.db")
    try:
        rows = con.execute("SELECT action, operator, bed, alarm_id, detail FROM actions ORDER BY id").fetchall()
    finally:
        con.close()
    return [r for r in rows if action is None or r[0] == action]


def shown(client, alarm_id):
    status, ward = client.json("GET", "/api/ward")
    assert status == 200
    return next((a for a in ward["alarms"] if a["id"] == alarm_id), None)


def test_alarm_pushed_acknowledged_and_judged_with_the_operators_name(ward):
    station, (bed1, _), folder = ward
    client = Client(station.url)
    assert client.login() == 303
    stream = client.events()
    got: list = []
    threading.Thread(target=lambda: [got.append(e) for e in stream], daemon=True).start()
    wait_for(lambda: any(e[0] == "ping" for e in got), what="the event stream")
    bed1.heartbeat()
    msg = bed1.alert("onset")
    pushed = wait_for(lambda: next((e for e in got if e[0] == "alarm" and e[1]["id"] == "a1"), None),
                      what="the onset pushed to the page")
    assert pushed[1]["bed"] == "bed-1" and pushed[1]["priority"] == "high" and pushed[1]["active"]
    onset = datetime.fromisoformat(msg["onset"].replace("Z", "+00:00")).timestamp()
    assert pushed[1]["onset"] == pytest.approx(onset, abs=1e-3)

    status, view = client.json("POST", "/api/alarms/bed-1/a1/ack", {})
    assert status == 200 and view["acknowledged_by"] == "nurse" and view["silenced_until"] > time.time()
    status, view = client.json("POST", "/api/alarms/bed-1/a1/verdict",
                               {"verdict": "false_alarm", "note": "patient was talking"})
    assert status == 200 and view["verdict"]["verdict"] == "false_alarm" and view["verdict"]["operator"] == "nurse"
    done = actions(folder)
    assert [(a[0], a[1], a[2], a[3]) for a in done if a[0] in ("acknowledge", "verdict")] == [
        ("acknowledge", "nurse", "bed-1", "a1"), ("verdict", "nurse", "bed-1", "a1")]
    assert json.loads(done[-1][4])["note"] == "patient was talking"
    # the onset itself is journaled too
    wait_for(lambda: station.call(_alarms, station.station, "bed-1"), what="the onset in the journal")


async def _alarms(station, bed):
    return await station.db(station.journal.alarms, bed)


def test_latched_alarm_stays_after_clear_until_acknowledged(ward):
    station, (bed1, _), _ = ward
    client = Client(station.url)
    client.login()
    bed1.heartbeat()
    bed1.alert("onset")
    wait_for(lambda: shown(client, "a1"), what="onset")
    bed1.alert("clear", t=130.0)
    alarm = wait_for(lambda: (a := shown(client, "a1")) and not a["active"] and a, what="clear")
    assert alarm["latched"]
    client.json("POST", "/api/alarms/bed-1/a1/ack", {})
    assert shown(client, "a1") is None


def test_the_bed_page_has_the_model_version_the_heartbeats_carry(ward):
    # A model a bed loaded on SIGHUP is named on its page (bed.js shows bed.model_version).
    station, (bed1, bed2), _ = ward
    client = Client(station.url)
    client.login()

    def bed(name):
        status, body = client.json("GET", f"/api/beds/{name}")
        assert status == 200
        return body["bed"]

    for version in ("biatgru@model-a", "biatgru@model-b"):
        bed1.heartbeat(model_version=version)
        wait_for(lambda: bed("bed-1")["model_version"] == version, what=version)
    bed1.heartbeat()  # an older daemon's, without one; then vitals, which come after it
    bed1.vitals()
    wait_for(lambda: bed("bed-1")["last_vitals"] is not None, what="vitals")
    assert bed("bed-1")["model_version"] == "biatgru@model-b"
    bed2.heartbeat(model_version="x" * 129)  # malformed: the heartbeat is refused
    bed2.vitals()
    wait_for(lambda: bed("bed-2")["last_vitals"] is not None, what="vitals")
    assert bed("bed-2")["model_version"] is None


def test_refusals_change_nothing(ward):
    station, (bed1, _), folder = ward
    client = Client(station.url)
    assert client.login(password="wrong password") == 401
    assert client.json("GET", "/api/ward")[0] == 401
    assert client.login() == 303
    bed1.heartbeat()
    bed1.alert("onset")
    wait_for(lambda: shown(client, "a1"), what="onset")
    before = len(actions(folder))
    # forged or missing CSRF token
    status, body = client.json("POST", "/api/alarms/bed-1/a1/ack", {}, csrf="forged-token")
    assert status == 403 and "CSRF" in body["error"]
    assert client.json("POST", "/api/alarms/bed-1/a1/ack", {}, csrf=False)[0] == 403
    # unknown bed, unknown alarm, bad verdict
    status, body = client.json("POST", "/api/alarms/bed-9/a1/ack", {})
    assert status == 404 and "unknown bed" in body["error"]
    assert client.json("GET", "/api/beds/<script>")[0] == 404
    assert client.request("GET", "/bed/nope")[0] == 404
    assert client.json("POST", "/api/alarms/bed-1/zzz/ack", {})[0] == 404
    status, body = client.json("POST", "/api/alarms/bed-1/a1/verdict", {"verdict": "other_pattern"})
    assert status == 400 and "pattern must be" in body["error"]
    assert shown(client, "a1")["acknowledged_by"] is None and shown(client, "a1")["verdict"] is None
    assert len(actions(folder)) == before
    failed = actions(folder, "login_failed")
    assert len(failed) == 1 and failed[0][1] == "nurse"


def test_expired_session_refused(ward):
    station, _, folder = ward
    client = Client(station.url)
    client.login()
    journal = station.station.journal
    token_hash = next(iter(station.station.sessions.cache)) if station.station.sessions.cache else None
    if token_hash is None:
        client.json("GET", "/api/ward")
        token_hash = next(iter(station.station.sessions.cache))
    session = station.station.sessions.cache[token_hash]
    session.expires_wall = time.time() - 1  # as if the shift ended
    station.call(_expire, station.station, journal, token_hash)
    status, body = client.json("GET", "/api/ward")
    assert status == 401 and "expired" in body["error"]
    assert client.json("POST", "/api/alarms/bed-1/a1/ack", {})[0] == 401
    assert client.request("GET", "/")[0] == 303  # the page sends the browser to the login


async def _expire(station, journal, token_hash):
    now = time.time()
    await station.db(journal.touch_session, token_hash, now - 100, now - 1)


def test_snapshot_on_connect_and_silent_bed(tmp_path):
    bed = Bed("bed-1")
    bed.alert("onset", condition="tachypnea", priority="medium", alarm_id="before")
    config = write_config(tmp_path, [bed])
    add_user(config)
    with RunningStation(config) as station:
        client = Client(station.url)
        client.login()
        # on before the station started: from the bed's snapshot
        alarm = wait_for(lambda: shown(client, "before"), what="the snapshot's alarm")
        assert alarm["condition"] == "tachypnea"
        stop = threading.Event()

        def beat():
            while not stop.is_set():
                bed.heartbeat()
                time.sleep(0.2)

        beater = threading.Thread(target=beat, daemon=True)
        beater.start()
        wait_for(lambda: client.json("GET", "/api/ward")[1]["beds"][0]["link"] == "up", what="link up")
        stop.set()
        beater.join()
        silent = wait_for(lambda: next((a for a in client.json("GET", "/api/ward")[1]["alarms"]
                                        if a["condition"] == "bed_silent"), None), timeout_s=10, what="bed_silent")
        assert silent["kind"] == "technical" and silent["bed"] == "bed-1"
        bed.heartbeat()
        wait_for(lambda: not any(a["condition"] == "bed_silent" for a in client.json("GET", "/api/ward")[1]["alarms"]),
                 what="bed_silent cleared")
    bed.close()


def test_reload_adds_a_bed_without_restart(tmp_path):
    beds = [Bed("bed-1"), Bed("bed-2")]
    config = write_config(tmp_path, beds[:1])
    add_user(config)
    with RunningStation(config) as station:
        client = Client(station.url)
        client.login()
        assert [b["name"] for b in client.json("GET", "/api/ward")[1]["beds"]] == ["bed-1"]
        write_config(tmp_path, beds)
        station.call(station.station.reload)
        beds[1].heartbeat()
        beds[1].alert("onset", alarm_id="b2")
        wait_for(lambda: shown(client, "b2"), what="the new bed's alarm")
        # a broken config on reload is refused; the running one stays
        (tmp_path / "station.yaml").write_text("station:\n  nmae: x\n")
        station.call(station.station.reload)
        assert [b["name"] for b in client.json("GET", "/api/ward")[1]["beds"]] == ["bed-1", "bed-2"]
    for bed in beds:
        bed.close()


def test_a_disabled_operator_is_out_at_once_and_journaled(tmp_path, monkeypatch):
    """`respmon station user disable` (another process, the same journal) ends the operator's open
    page at the station's next keep-alive, and refuses their login; enabled again, they are back."""
    from respmon.station.app import Sessions

    monkeypatch.setattr(Sessions, "TOUCH_EVERY_S", 0.0)  # every request is a keep-alive: no minute's wait
    config = write_config(tmp_path, [])
    add_user(config)
    with RunningStation(config) as station:
        client = Client(station.url)
        assert client.login() == 303 and client.json("GET", "/api/ward")[0] == 200
        assert main(["station", "user", "disable", "nurse", "--config", str(config)]) == 0
        assert client.json("GET", "/api/ward")[0] == 401
        assert Client(station.url).login() == 401
        assert main(["station", "user", "enable", "nurse", "--config", str(config)]) == 0
        assert Client(station.url).login() == 303
    assert [(a[0], a[1].startswith("console:"), json.loads(a[4])) for a in actions(tmp_path)
            if a[0].startswith("user_")] == [("user_disabled", True, {"user": "nurse"}),
                                             ("user_enabled", True, {"user": "nurse"})]


def test_a_bed_leaves_the_ward_only_once_its_alarms_are_acknowledged(tmp_path, caplog):
    """Removing a bed takes its alarms off the page: a reload that would take one no nurse has
    acknowledged is refused (and says so); once acknowledged, the bed goes."""
    beds = [Bed("bed-1"), Bed("bed-2")]
    config = write_config(tmp_path, beds)
    add_user(config)
    with RunningStation(config) as station:
        client = Client(station.url)
        client.login()
        beds[1].heartbeat()
        beds[1].alert("onset", alarm_id="b2")
        wait_for(lambda: shown(client, "b2"), what="bed-2's alarm")
        write_config(tmp_path, beds[:1])
        station.call(station.station.reload)
        assert [b["name"] for b in client.json("GET", "/api/ward")[1]["beds"]] == ["bed-1", "bed-2"]
        assert shown(client, "b2") is not None
        assert any("reload refused" in r.getMessage() and "central_apnea on bed-2" in r.getMessage()
                   for r in caplog.records)
        assert client.json("POST", "/api/alarms/bed-2/b2/ack", {})[0] == 200
        station.call(station.station.reload)
        assert [b["name"] for b in client.json("GET", "/api/ward")[1]["beds"]] == ["bed-1"]
        assert shown(client, "b2") is None
    for bed in beds:
        bed.close()


@pytest.mark.parametrize("text,problem", [
    ("station:\n  prot: 1\n", "station.prot: unknown key"),
    ("beds:\n  - {name: b, endpoint: 'tcp://10.0.0.5:1', snapshot_endpoint: 'tcp://10.0.0.5:2', insecure: true}\n",
     "plain text is allowed on loopback"),
    ("beds:\n  - {name: b, endpoint: 'tcp://h:1', snapshot_endpoint: 'tcp://h:2'}\n"
     "  - {name: b, endpoint: 'tcp://h:3', snapshot_endpoint: 'tcp://h:4'}\n", "given twice"),
    ("beds:\n  - {name: b}\n", "endpoint: missing"),
    ("beds: 3\n", "must be a list"),
    ("journal:\n  url: 'mysql://x'\n", "journal.url"),
    ("station:\n  listen: 'example.com'\n", "must be an IP address"),
])
def test_malformed_station_config_one_line_exit_2(tmp_path, capsys, text, problem):
    path = tmp_path / "station.yaml"
    path.write_text(text)
    assert main(["station", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert problem in err and err.count("\n") == 1 and "Traceback" not in err


def test_alert_sequence_gap_fetches_the_snapshot(ward):
    """An alert lost on the way (a gap in the bed's alert numbers): the station asks the bed for its
    snapshot, which has the alarm whose onset never arrived."""
    station, (bed1, _), _ = ward
    client = Client(station.url)
    client.login()
    bed1.heartbeat()
    bed1.alert("onset", alarm_id="seen")
    wait_for(lambda: shown(client, "seen"), what="first onset")
    bed1.pub.seq["alert"] += 1  # the next onset is "lost": numbered, never sent ...
    bed1.active["lost"] = {**bed1.active["seen"], "id": "lost", "condition": "bradypnea", "priority": "medium"}
    bed1.pub.set_snapshot(list(bed1.active.values()), None)  # ... but the bed has it on
    bed1.alert("update", alarm_id="seen", t=110.0)  # the next message shows the gap
    alarm = wait_for(lambda: shown(client, "lost"), what="the lost onset, from the snapshot")
    assert alarm["condition"] == "bradypnea" and alarm["active"]
