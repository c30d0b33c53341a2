"""Strict configuration: every key the program reads, its type, range and default.

`config.yaml` at the top of the repository documents each key. Loading refuses unknown keys,
wrong types and out-of-range values with one line naming the file line, the key and the reason,
so a typo in a bedside box's config never silently falls back to a default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from respmon.errors import UsageError, short_repr, short_text
from respmon.files import FileTooLarge, NotRegularFile, read_regular_file
from respmon.sim.script import parse_script

DEPTH_FPS_MODES = (6, 15, 30, 60, 90)  # the D4xx depth stream's frame rates
# A config is a page of settings (the shipped one, every key commented, is about 12 KB); one far
# larger is a mistake or an attack, and parsing it would stall whoever reads it (20 MB: 15 s).
MAX_CONFIG_BYTES = 256 * 1024


@dataclass(frozen=True)
class Setting:
    kind: type
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple | None = None
    # Raises ValueError with the reason when a value of the right type is still unusable.
    check: Callable[[Any], Any] | None = None
    nullable: bool = False  # `null` allowed (means "not set")


@dataclass(frozen=True)
class Records:
    """A list of mappings, each checked against `schema` (the station's beds)."""
    schema: dict[str, Any]
    min_items: int = 0
    max_items: int = 1024
    unique: str | None = None  # a key whose value must differ between items


def _check_box(value: Any) -> None:
    if not (isinstance(value, list) and len(value) == 4 and all(type(v) is int for v in value)):
        raise ValueError("must be null or [x0, y0, x1, y1] in whole pixels")
    x0, y0, x1, y1 = value
    if not (0 <= x0 < x1 and 0 <= y0 < y1):
        raise ValueError(f"must have 0 <= x0 < x1 and 0 <= y0 < y1, got {value}")


def check_bed(value: str) -> None:
    # The name goes into ZeroMQ topics ("alert/NAME/..."), systemd instance names and key file names.
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", value):
        raise ValueError(f"must be 1-64 letters, digits, '.', '_' or '-' (starting with a letter or "
                         f"digit), got {short_repr(value, 80)}")


def check_endpoint(value: str) -> None:
    match = re.fullmatch(r"tcp://[^\s/]+:(\d+)|ipc://\S+", value)
    if not match:
        raise ValueError(f"must be tcp://HOST:PORT or ipc://PATH, got {short_repr(value, 80)}")
    if match.group(1) is not None and not (len(match.group(1)) <= 5 and 1 <= int(match.group(1)) <= 65535):
        # ZeroMQ took 99999 without a word and bound another port
        raise ValueError(f"the port must be 1 to 65535, got {short_repr(value, 80)}")



def _check_path(value: str) -> None:
    if not value or "\0" in value or len(value) > 4096:
        raise ValueError(f"must be a folder path, got {short_repr(value, 80)}")


SCHEMA: dict[str, Any] = {
    "bed": {
        "name": Setting(str, "bed-1", check=check_bed),
    },
    "source": {
        "kind": Setting(str, "camera", choices=("camera", "recording")),
        "recording": Setting(str, ""),
        "loop": Setting(bool, False),
        "realtime": Setting(bool, True),
        "stall_s": Setting(float, 5.0, minimum=1.0, maximum=60.0),
        "reconnect_interval_s": Setting(float, 5.0, minimum=1.0, maximum=300.0),
        "clock_pace_tolerance": Setting(float, 0.1, minimum=0.0, maximum=0.5),
    },
    "camera": {
        "serial": Setting(str, ""),
        "width": Setting(int, 848, minimum=64, maximum=1280),
        "height": Setting(int, 480, minimum=48, maximum=720),
        "fps": Setting(int, 30, choices=DEPTH_FPS_MODES),
    },
    "region": {
        "fixed_box_px": Setting(list, None, nullable=True, check=_check_box),
        "search_window_s": Setting(float, 15.0, minimum=8.0, maximum=60.0),
        "search_interval_s": Setting(float, 2.0, minimum=0.5, maximum=60.0),
        "refresh_s": Setting(float, 60.0, minimum=10.0, maximum=3600.0),
        "motion_threshold_mm": Setting(float, 25.0, minimum=5.0, maximum=500.0),
        "motion_share": Setting(float, 0.03, minimum=0.001, maximum=0.5),
        "motion_hold_s": Setting(float, 2.0, minimum=0.0, maximum=30.0),
        "absent_depth_increase_mm": Setting(float, 60.0, minimum=10.0, maximum=1000.0),
    },
    "signal": {
        "rate_hz": Setting(float, 10.0, minimum=1.0, maximum=100.0),
    },
    "rate": {
        "window_s": Setting(float, 30.0, minimum=10.0, maximum=120.0),
        "long_window_s": Setting(float, 60.0, minimum=10.0, maximum=300.0),
        "min_quality": Setting(float, 0.5, minimum=0.0, maximum=1.0),
        "apnea_min_s": Setting(float, 10.0, minimum=5.0, maximum=60.0),
    },
    "classifier": {
        "model": Setting(str, ""),
        "train_per_class": Setting(int, 1500, minimum=10, maximum=100_000),
        "epochs": Setting(int, 30, minimum=1, maximum=1000),
        "seed": Setting(int, 1, minimum=0, maximum=2**31 - 1),
        "threads": Setting(int, 2, minimum=1, maximum=256),
    },
    "alerts": {
        "apnea_delay_s": Setting(float, 20.0, minimum=10.0, maximum=60.0),
        "apnea_clear_s": Setting(float, 10.0, minimum=2.0, maximum=60.0),
        "tachypnea_above_bpm": Setting(float, 20.0, minimum=10.0, maximum=60.0),
        "bradypnea_below_bpm": Setting(float, 12.0, minimum=3.0, maximum=20.0),
        "rate_hysteresis_bpm": Setting(float, 2.0, minimum=0.0, maximum=10.0),
        "rate_validation_s": Setting(float, 20.0, minimum=0.0, maximum=300.0),
        "pattern_min_probability": Setting(float, 0.5, minimum=0.0, maximum=1.0),
        "biots_sustain_s": Setting(float, 5.0, minimum=0.0, maximum=300.0),
        "cheyne_stokes_sustain_s": Setting(float, 60.0, minimum=0.0, maximum=300.0),
        "pattern_evidence_hop_s": Setting(float, 10.0, minimum=1.0, maximum=60.0),
        "pattern_alert_confidence": Setting(float, 0.9, minimum=0.0, maximum=1.0),
        "clear_s": Setting(float, 30.0, minimum=0.0, maximum=600.0),
        "absent_delay_s": Setting(float, 10.0, minimum=0.0, maximum=600.0),
        "low_quality_delay_s": Setting(float, 60.0, minimum=10.0, maximum=3600.0),
        "technical_clear_s": Setting(float, 5.0, minimum=0.0, maximum=600.0),
        "update_interval_s": Setting(float, 10.0, minimum=1.0, maximum=600.0),
        "restart_notice_s": Setting(float, 60.0, minimum=5.0, maximum=3600.0),
    },
    "publish": {
        "endpoint": Setting(str, "tcp://127.0.0.1:5556", check=check_endpoint),
        "snapshot_endpoint": Setting(str, "tcp://127.0.0.1:5557", check=check_endpoint),
        "send_hwm": Setting(int, 1000, minimum=10, maximum=1_000_000),
        "heartbeat_interval_s": Setting(float, 1.0, minimum=0.1, maximum=60.0),
        "insecure": Setting(bool, False),
    },
    "keys": {
        "dir": Setting(str, "keys", check=_check_path),
        "client": Setting(str, "watch", check=check_bed),
    },
    "watch": {
        "heartbeat_timeout_s": Setting(float, 3.0, minimum=0.5, maximum=600.0),
    },
    "journal": {
        "path": Setting(str, "", check=lambda v: _check_path(v) if v else None),
        "max_events": Setting(int, 100_000, minimum=100, maximum=10_000_000),
    },
    "log": {
        "level": Setting(str, "info", choices=("debug", "info", "warning", "error")),
    },
    "simulation": {
        "recording": {
            "width": Setting(int, 424, minimum=64, maximum=1280),
            "height": Setting(int, 240, minimum=48, maximum=720),
            "fps": Setting(int, 15, choices=DEPTH_FPS_MODES),
            "distance_m": Setting(float, 1.2, minimum=0.5, maximum=3.0),
            "tilt_deg": Setting(float, 0.0, minimum=0.0, maximum=30.0),
        },
        "demo": {
            "script": Setting(
                str,
                "eupnea@14:60,central_apnea:25,eupnea:60,motion:4,absent:20",
                check=parse_script,
            ),
            "seed": Setting(int, 1, minimum=0, maximum=2**32 - 1),
        },
    },
}


class ConfigError(UsageError):
    pass


def check_value(setting: Setting, value: Any, where: str) -> Any:
    if value is None and setting.nullable:
        return None
    if setting.kind is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:
            raise ConfigError(f"{where}: must be a finite number, got {short_repr(value, 40)}") from None
    wrong_bool = isinstance(value, bool) and setting.kind is not bool
    if setting.kind is list:
        pass  # the check says what shape the list must have
    elif wrong_bool or not isinstance(value, setting.kind):
        hint = f' (quote it: "{str(value)[:60]}")' if setting.kind is str and isinstance(value, (int, float)) else ""
        raise ConfigError(f"{where}: must be {setting.kind.__name__}, got {short_repr(value, 80)}{hint}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: must be a finite number, got {short_repr(value, 80)}")
    if setting.choices is not None and value not in setting.choices:
        allowed = ", ".join(str(c) for c in setting.choices)
        raise ConfigError(f"{where}: must be one of {allowed}, got {short_repr(value, 80)}")
    if setting.minimum is not None and value < setting.minimum:
        raise ConfigError(f"{where}: must be >= {setting.minimum}, got {short_repr(value, 80)}")
    if setting.maximum is not None and value > setting.maximum:
        raise ConfigError(f"{where}: must be <= {setting.maximum}, got {short_repr(value, 80)}")
    if setting.check is not None:
        try:
            setting.check(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return value


def _defaults(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        key: _defaults(entry) if isinstance(entry, dict) else [] if isinstance(entry, Records) else entry.default
        for key, entry in schema.items()
    }


def _records(node: yaml.Node, records: Records, path: str, source: str) -> list[dict[str, Any]]:
    at = f"{source}:{node.start_mark.line + 1}: {path}"
    if not isinstance(node, yaml.SequenceNode):
        raise ConfigError(f"{at}: must be a list (one '- ' item each)")
    if not records.min_items <= len(node.value) <= records.max_items:
        raise ConfigError(f"{at}: must have {records.min_items} to {records.max_items} items, got {len(node.value)}")
    items, seen = [], {}
    for i, item_node in enumerate(node.value):
        item = _validate(item_node, records.schema, f"{path}[{i}]", source)
        key = item.get(records.unique) if records.unique else None
        if key is not None:
            if key in seen:
                raise ConfigError(f"{source}:{item_node.start_mark.line + 1}: {path}[{i}].{records.unique}: "
                                  f"{short_repr(key, 80)} given twice (also {path}[{seen[key]}])")
            seen[key] = i
        items.append(item)
    return items


def _validate(node: yaml.Node, schema: dict[str, Any], path: str, source: str) -> dict[str, Any]:
    where = f"{source}:{node.start_mark.line + 1}: {path or 'top level'}"
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{where}: must be a mapping of keys")
    values = _defaults(schema)
    seen: set[str] = set()
    constructor = yaml.constructor.SafeConstructor()
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise ConfigError(f"{source}:{key_node.start_mark.line + 1}: {path or 'top level'}: "
                              "keys must be plain names")
        key = key_node.value
        name = short_text(key, 64)  # echoed in one line
        dotted = f"{path}.{name}" if path else name
        at = f"{source}:{key_node.start_mark.line + 1}: {dotted}"
        if key not in schema:
            known = ", ".join(sorted(schema))
            raise ConfigError(f"{at}: unknown key (known here: {known})")
        if key in seen:
            raise ConfigError(f"{at}: key given twice")
        seen.add(key)
        entry = schema[key]
        if isinstance(entry, dict):
            values[key] = _validate(value_node, entry, dotted, source)
        elif isinstance(entry, Records):
            values[key] = _records(value_node, entry, dotted, source)
        else:
            if not isinstance(value_node, yaml.ScalarNode) and entry.kind is not list:
                raise ConfigError(f"{at}: must be a single {entry.kind.__name__}")
            try:
                value = constructor.construct_object(value_node, deep=True)
            except (yaml.YAMLError, ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
                # tags (!!int wide, !!timestamp x, !foo), impossible dates, 5,000-digit numbers
                problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
                raise ConfigError(f"{at}: not a value that can be read: {short_text(problem, 100)}") from None
            values[key] = check_value(entry, value, at)
    return values


def _namespace(values: Any) -> Any:
    if isinstance(values, dict):
        return SimpleNamespace(**{k: _namespace(v) for k, v in values.items()})
    if isinstance(values, list) and values and isinstance(values[0], dict):
        return [_namespace(v) for v in values]
    return values


def default_config(schema: dict[str, Any] | None = None) -> SimpleNamespace:
    """The built-in defaults; `config.yaml` as shipped states exactly these."""
    return _namespace(_defaults(schema or SCHEMA))


def parse_config(text: str, source: str = "<config>", schema: dict[str, Any] | None = None) -> SimpleNamespace:
    schema = schema or SCHEMA
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: too large for a config ({len(text)} characters; at most {MAX_CONFIG_BYTES})")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}{line}: not valid YAML: {short_text(problem, 120)}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a config") from None
    if root is None:
        return default_config(schema)
    try:
        return _namespace(_validate(root, schema, "", source))
    except RecursionError:  # a deep list value: its construction recurses deeper than the parse
        raise ConfigError(f"{source}: nested too deeply to be a config") from None


def load_config(path: str | Path | None, schema: dict[str, Any] | None = None) -> SimpleNamespace:
    """Load and check a config file; None means the built-in defaults."""
    if path is None:
        return default_config(schema)
    path = Path(path)
    try:
        text = _read_regular_file(path, MAX_CONFIG_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    return parse_config(text, str(path), schema)


def _read_regular_file(path: Path, limit: int) -> bytes:
    try:
        return read_regular_file(path, limit)[0]
    except NotRegularFile:
        raise ConfigError(f"{path}: not a regular file") from None
    except FileTooLarge as exc:
        raise ConfigError(f"{path}: too large for a config ({exc})") from None


def schema_keys(schema: dict[str, Any] | None = None, prefix: str = "") -> list[str]:
    """Every dotted key of the schema, leaves only."""
    keys: list[str] = []
    for key, entry in (schema or SCHEMA).items():
        dotted = f"{prefix}{key}"
        if isinstance(entry, Records):
            keys.extend(schema_keys(entry.schema, f"{dotted}[]."))
        else:
            keys.extend(schema_keys(entry, dotted + ".") if isinstance(entry, dict) else [dotted])
    return keys
