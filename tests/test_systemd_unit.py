"""systemd/respmon@.service: what the bedside box relies on, and `systemd-analyze verify`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from respmon.config import default_config
from tests.conftest import REPO

UNIT = REPO / "systemd" / "respmon@.service"


def settings() -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_the_unit_is_a_notify_service_with_a_watchdog_and_restarts():
    s = settings()
    assert s["Type"] == ["notify"] and s["Restart"] == ["on-failure"]
    assert s["ExecStart"][0].endswith("respmon run --config /etc/respmon/%i.yaml")
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["StartLimitIntervalSec"] == ["0"]
    config = default_config()
    # The watchdog must not fire before the daemon has raised camera_lost and tried to reconnect.
    assert int(s["WatchdogSec"][0]) > config.source.stall_s + config.source.reconnect_interval_s


def test_the_unit_is_hardened_but_can_reach_the_camera():
    s = settings()
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "DevicePolicy": "closed"}.items():
        assert s[key] == [value], key
    assert "char-usb_device rw" in s["DeviceAllow"]
    assert s["SupplementaryGroups"] and s["User"] != ["root"]
    assert "PrivateDevices" not in s  # it would hide the camera
    assert s["CapabilityBoundingSet"] == [""]


def test_the_unit_bounds_what_a_hostile_network_can_make_it_hold():
    s = settings()
    assert s["IPAddressDeny"] == ["any"] and s["IPAddressAllow"] == ["localhost"]
    assert int(s["LimitNOFILE"][0]) >= 4096  # 1,100 idle connections exhausted 1,024 descriptors
    assert s["MemoryMax"] and s["OOMPolicy"] == ["stop"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed here")
def test_systemd_analyze_verify_passes(tmp_path):
    respmon = Path(sys.executable).parent / "respmon"
    if not respmon.exists():
        pytest.skip(f"{respmon} not installed (run scripts/setup.sh)")
    # An instance of the template, pointing at this checkout's respmon instead of /opt/respmon.
    unit = tmp_path / "respmon@bed-1.service"
    unit.write_text(UNIT.read_text(encoding="utf-8").replace("/opt/respmon/bin/respmon", str(respmon)),
                    encoding="utf-8")
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if unit.name in line]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr
