"""A real `respmon station` (its Station object on its own thread and event loop, a real SQLite
journal, real ZeroMQ links to beds that tests publish with respmon's own Publisher) and a small
synchronous HTTP client that logs in as a browser does (login form, CSRF, session cookie)."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from respmon.alerts.engine import iso_utc
from respmon.publish.zmq_pub import Publisher
from respmon.station.app import Station, bed_endpoints
from respmon.station.auth import hash_password
from respmon.station.config import journal_url, load_station_config
from respmon.station.journal import open_journal

PASSWORD = "correct horse battery"


class Bed:
    """A bed as the station sees one: PUB + snapshot on loopback, plain text."""

    def __init__(self, name: str):
        self.name = name
        self.pub = Publisher("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", name)
        self.active: dict[str, dict] = {}

    def config(self) -> str:
        return (f"  - {{name: {self.name}, endpoint: \"{self.pub.endpoint}\", "
                f"snapshot_endpoint: \"{self.pub.snapshot_endpoint}\", insecure: true}}\n")

    def alert(self, event: str, condition: str = "central_apnea", alarm_id: str = "a1", priority: str = "high",
              kind: str = "physiological", t: float = 100.0, **extra) -> dict:
        now = time.time()
        previous = self.active.get(alarm_id)
        onset = previous["onset"] if previous else iso_utc(now)
        onset_t = previous["onset_t"] if previous else t
        payload = {"event": event, "id": alarm_id, "bed": self.name, "condition": condition,
                   "pattern": condition if kind == "physiological" else None, "kind": kind, "priority": priority,
                   "t": t, "onset_t": onset_t, "onset": onset, "confidence": 1.0, "rr_bpm": None,
                   "evidence": {"state": "apnea"}, "model_version": "test", **extra}
        if event == "clear":
            self.active.pop(alarm_id, None)
        else:
            self.active[alarm_id] = payload
        sent = self.pub.publish("alert", payload, condition=condition)
        self.pub.set_snapshot(list(self.active.values()), None)  # as a bed does: after the publish
        return sent

    def vitals(self, rr_bpm: float | None = 14.0, state: str = "breathing") -> dict:
        return self.pub.publish("vitals", {"t": 1.0, "state": state, "present": True, "rr_bpm": rr_bpm,
                                           "quality": 0.9, "seconds_since_breath": 1.0, "displacement_mm": 0.1,
                                           "pattern": None, "confidence": None, "probs": None})

    def heartbeat(self, **extra) -> dict:
        return self.pub.publish("heartbeat", {"state": "monitoring", "source": "test", "frames": 1,
                                              "bad_frames": 0, "uptime_s": 1.0, "t": 1.0, "reason": None,
                                              "active_alerts": len(self.active), **extra})

    def close(self) -> None:
        self.pub.close()


def write_config(folder: Path, beds: list[Bed], extra: str = "", journal: str = "sqlite:///station.db") -> Path:
    path = folder / "station.yaml"
    path.write_text("station:\n  name: test-ward\n  port: 0\n  heartbeat_timeout_s: 2.0\n"
                    f"journal:\n  url: \"{journal}\"\n" + extra
                    + ("beds:\n" + "".join(b.config() for b in beds) if beds else ""))
    return path


def add_user(config_path: Path, name: str = "nurse", password: str = PASSWORD) -> None:
    config = load_station_config(config_path)
    journal = open_journal(journal_url(config, config_path))
    try:
        journal.add_user(name, hash_password(password, n=2**10), time.time())  # cheap hash: tests
    finally:
        journal.close()


class RunningStation:
    def __init__(self, config_path: Path):
        self.config_path = config_path
        config = load_station_config(config_path)
        self.station = Station(config, config_path, open_journal(journal_url(config, config_path)))
        self.url: str | None = None
        started = threading.Event()

        def ready(url: str) -> None:
            self.url = url
            started.set()

        self.error: BaseException | None = None

        def serve() -> None:
            try:
                asyncio.run(self.station.serve(bed_endpoints(config, config_path), ready=ready, signals=False))
            except BaseException as exc:  # noqa: BLE001 - surfaced by the test
                self.error = exc
                started.set()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        assert started.wait(30), "the station did not start"
        if self.error:
            raise self.error

    def call(self, coro_fn, *args):
        return asyncio.run_coroutine_threadsafe(coro_fn(*args), self.station.loop).result(30)

    def stop(self) -> None:
        self.station.stop()
        self.thread.join(30)
        self.station.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Client:
    """A browser without JavaScript: cookies, the login form, JSON calls with the CSRF header."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())
        self.csrf: str | None = None

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as err:
            return err.code, err.read(), dict(err.headers)

    def login(self, user: str = "nurse", password: str = PASSWORD) -> int:
        status, page, _ = self.request("GET", "/login")
        assert status == 200
        token = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
        form = urllib.parse.urlencode({"username": user, "password": password, "csrf": token}).encode()
        status, _, _ = self.request("POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"})
        if status == 303:
            self.csrf = self.json("GET", "/api/ward")[1]["csrf"]
        return status

    def json(self, method: str, path: str, body: dict | None = None, csrf: str | None | bool = True):
        headers = {"Content-Type": "application/json"}
        token = self.csrf if csrf is True else (csrf or None)
        if token:
            headers["X-CSRF-Token"] = token
        status, data, _ = self.request(method, path, None if body is None else json.dumps(body).encode(), headers)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, data

    def events(self):
        """The page's event stream: yields (event, data) as they arrive."""
        req = urllib.request.Request(self.base + "/api/events")
        response = self.opener.open(req, timeout=30)
        event = None
        for raw in response:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: ") and event:
                yield event, json.loads(line[len("data: "):])
                event = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def wait_for(predicate, timeout_s: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
