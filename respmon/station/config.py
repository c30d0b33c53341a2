"""The ward station's config (`station.yaml`): the same strict loader as the bed's config (unknown
keys, wrong types and out-of-range values refused with one line naming the file line), its own
schema. `station.yaml` at the top of the repository documents each key."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from types import SimpleNamespace

from respmon.config import ConfigError, Records, Setting, check_bed, check_endpoint, load_config
from respmon.publish.security import is_local

BED = {
    "name": Setting(str, "", check=check_bed),
    "endpoint": Setting(str, "", check=check_endpoint),
    "snapshot_endpoint": Setting(str, "", check=check_endpoint),
    "insecure": Setting(bool, False),
}


def _address_or(word: str, message: str):
    """A check: an IP address, or the one word given."""
    def check(value: str) -> None:
        if value == word:
            return
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{message}, got {value!r}") from None
    return check


_check_host = _address_or("localhost", "must be an IP address (127.0.0.1, ::1, 0.0.0.0) or localhost")
_check_proxy = _address_or("", "must be the reverse proxy's IP address (127.0.0.1) or empty")


def _check_url(value: str) -> None:
    if not (value.startswith("sqlite:///") or value.startswith("postgresql://") or value.startswith("postgres://")):
        raise ValueError("must be sqlite:///PATH or postgresql://USER@HOST/DB")
    if len(value) > 4096 or "\0" in value or "\n" in value:
        raise ValueError("is not a URL")


SCHEMA = {
    "station": {
        "name": Setting(str, "ward", check=check_bed),
        "listen": Setting(str, "127.0.0.1", check=_check_host),
        "port": Setting(int, 8080, minimum=0, maximum=65535),
        "tls_cert": Setting(str, ""),
        "tls_key": Setting(str, ""),
        "heartbeat_timeout_s": Setting(float, 5.0, minimum=1.0, maximum=600.0),
        "snapshot_timeout_s": Setting(float, 2.0, minimum=0.2, maximum=60.0),
        "max_browsers": Setting(int, 64, minimum=1, maximum=10_000),
        "trusted_proxy": Setting(str, "", check=_check_proxy),
    },
    "beds": Records(BED, min_items=0, max_items=256, unique="name"),
    "keys": {
        "dir": Setting(str, "keys"),
        "client": Setting(str, "station", check=check_bed),
    },
    "journal": {
        "url": Setting(str, "sqlite:///station.db", check=_check_url),
        "keep_1s_h": Setting(float, 24.0, minimum=1.0, maximum=24.0 * 31),
        "keep_days": Setting(float, 365.0, minimum=1.0, maximum=3650.0),
        "vitals_flush_s": Setting(float, 1.0, minimum=0.2, maximum=60.0),
    },
    "alarms": {
        "audio_pause_s": Setting(float, 120.0, minimum=10.0, maximum=900.0),
        "latch": Setting(str, "high", choices=("high", "high_medium", "none")),
    },
    "sessions": {
        "idle_min": Setting(float, 30.0, minimum=1.0, maximum=24 * 60.0),
        "max_h": Setting(float, 12.0, minimum=0.1, maximum=24 * 7.0),
        "login_failures_per_min": Setting(int, 10, minimum=1, maximum=1000),
    },
    "log": {
        "level": Setting(str, "info", choices=("debug", "info", "warning", "error")),
    },
}


def load_station_config(path: str | Path | None) -> SimpleNamespace:
    config = load_config(path, SCHEMA)
    source = str(path) if path is not None else "<defaults>"
    for i, bed in enumerate(config.beds):
        where = f"{source}: beds[{i}] ({bed.name or 'no name'})"
        for key in ("name", "endpoint", "snapshot_endpoint"):
            if not getattr(bed, key):
                raise ConfigError(f"{where}.{key}: missing")
        if bed.insecure and not (is_local(bed.endpoint) and is_local(bed.snapshot_endpoint)):
            raise ConfigError(f"{where}.insecure: plain text is allowed on loopback and ipc:// only; "
                              "use CURVE keys there (respmon keys create)")
    if bool(config.station.tls_cert) != bool(config.station.tls_key):
        raise ConfigError(f"{source}: station.tls_cert and station.tls_key go together (both or neither)")
    return config


def resolve(config_path: str | Path | None, value: str) -> Path:
    """A relative path in the config is read from the config file's folder."""
    path = Path(value).expanduser()
    if not path.is_absolute() and config_path is not None:
        path = Path(config_path).resolve().parent / path
    return path


def journal_url(config: SimpleNamespace, config_path: str | Path | None) -> str:
    url = config.journal.url
    if url.startswith("sqlite:///"):
        return "sqlite:///" + str(resolve(config_path, url[len("sqlite:///"):]))
    return url
