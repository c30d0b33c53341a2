"""`respmon station user add|list`, `respmon station --demo` (the README's demo) and station.yaml as
shipped: every key documented, commented, and its values the defaults but for the demo beds."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading

from respmon.config import default_config, schema_keys
from respmon.station.config import SCHEMA, load_station_config
from station_harness import Client, wait_for
from tests.conftest import REPO, free_ports, run_cli


def test_shipped_station_yaml_documents_every_key():
    shipped = load_station_config(REPO / "station.yaml")
    defaults = default_config(SCHEMA)
    for section in ("keys", "journal", "alarms", "sessions", "log"):
        assert getattr(shipped, section) == getattr(defaults, section), section
    assert shipped.station.listen == "127.0.0.1"  # loopback unless someone opens it up
    assert [b.name for b in shipped.beds] == [f"bed-{i}" for i in range(1, 9)]
    assert not any(b.insecure for b in shipped.beds)  # CURVE, as beds are by default
    text = (REPO / "station.yaml").read_text()
    for key in schema_keys(SCHEMA):
        assert f"{key.rsplit('.', 1)[-1]}" in text, f"station.yaml does not document {key}"
    lines = text.splitlines()
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.endswith(":") or stripped.startswith("- {"):
            continue
        commented = "#" in line or lines[number - 1].strip().startswith("#")
        assert commented, f"station.yaml line {number + 1} has no comment: {line!r}"


def config_in(tmp_path, port_base: int | None = None) -> str:
    text = (REPO / "station.yaml").read_text()
    if port_base is not None:
        text = re.sub(r"127\.0\.0\.1:56(\d\d)", lambda m: f"127.0.0.1:{port_base + int(m.group(1))}", text)
        text = text.replace("port: 8080", "port: 0")
    path = tmp_path / "station.yaml"
    path.write_text(text)
    return str(path)


def test_user_add_then_list(tmp_path, monkeypatch):
    config = config_in(tmp_path)
    monkeypatch.setattr("sys.stdin", _Stdin("a long enough password\n"))
    code, out, err = run_cli("station", "user", "add", "m.dubois", "--password-stdin", "--config", config)
    assert code == 0, err
    code, out, _ = run_cli("station", "user", "list", "--config", config)
    assert out.split() == ["m.dubois"]


def test_user_add_refusals_change_nothing(tmp_path, monkeypatch):
    config = config_in(tmp_path)
    monkeypatch.setattr("sys.stdin", _Stdin("a long enough password\n"))
    assert run_cli("station", "user", "add", "nurse", "--password-stdin", "--config", config)[0] == 0
    for name, password, problem in [("nurse", "another long password", "exists already"),
                                    ("bad name", "a long enough password", "user name must be"),
                                    ("x", "short", "at least 8 characters")]:
        monkeypatch.setattr("sys.stdin", _Stdin(password + "\n"))
        code, _, err = run_cli("station", "user", "add", name, "--password-stdin", "--config", config)
        assert code == 2 and problem in err and err.count("\n") == 1, err
    assert run_cli("station", "user", "list", "--config", config)[1].split() == ["nurse"]


def test_user_disable_and_enable(tmp_path, monkeypatch):
    config = config_in(tmp_path)
    for name in ("nurse", "m.dubois"):
        monkeypatch.setattr("sys.stdin", _Stdin("a long enough password\n"))
        assert run_cli("station", "user", "add", name, "--password-stdin", "--config", config)[0] == 0
    code, out, err = run_cli("station", "user", "disable", "nurse", "--config", config)
    assert code == 0 and "disabled" in out, err
    assert run_cli("station", "user", "list", "--config", config)[1].splitlines() == ["m.dubois", "nurse (disabled)"]
    assert run_cli("station", "user", "enable", "nurse", "--config", config)[0] == 0
    assert run_cli("station", "user", "list", "--config", config)[1].splitlines() == ["m.dubois", "nurse"]
    code, out, err = run_cli("station", "user", "disable", "nobody", "--config", config)
    assert code == 2 and out == "" and err.count("\n") == 1 and "no operator 'nobody'" in err


def test_user_add_without_terminal_asks_for_password_stdin(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stdin", _Stdin(""))
    code, _, err = run_cli("station", "user", "add", "nurse", "--config", config_in(tmp_path))
    assert code == 2 and "--password-stdin" in err


class _Stdin:
    def __init__(self, text: str):
        self.text = text

    def readline(self, limit: int = -1) -> str:
        return self.text

    def isatty(self) -> bool:
        return False


def test_demo_shows_a_living_ward_over_curve(tmp_path):
    """The README's demo: the shipped station.yaml (its ports moved to free ones), --demo 8."""
    base = free_ports(16)
    config = config_in(tmp_path, port_base=base)
    proc = subprocess.Popen([sys.executable, "-m", "respmon.cli", "station", "--config", config, "--demo", "8"],
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    found: dict[str, str] = {}
    ready = threading.Event()

    def read():
        for line in proc.stderr:
            lines.append(line)
            if m := re.search(r"operator 'demo' added, password (\S+)", line):
                found["password"] = m.group(1)
            if m := re.search(r"url=(http://\S+)", line):
                found["url"] = m.group(1)
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(60) and "url" in found, "".join(lines[-5:])
        client = Client(found["url"])
        assert client.login("demo", found["password"]) == 303
        ward = wait_for(lambda: (w := client.json("GET", "/api/ward")[1]) and all(
            b["link"] == "up" for b in w["beds"]) and any(b["rr_bpm"] for b in w["beds"]) and w, timeout_s=30,
            what="8 beds up, rates coming")
        assert len(ward["beds"]) == 8
        assert (tmp_path / "keys" / "clients" / "station.key").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
