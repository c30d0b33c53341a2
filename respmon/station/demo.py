"""`respmon station --config station.yaml --demo N`: the station with N simulated beds in the same
process (respmon.simulate_cmd.SimulatedWard, publishing exactly what bed daemons publish on the
config's first N bed endpoints), for a demo in one command. What it needs and lacks it makes,
and says so: the station's key pair (allowed by the simulated beds), the beds' key pairs, and a
`demo` operator with a random password when the journal has no operator yet."""

from __future__ import annotations

import dataclasses
import secrets
import sys
import time
from pathlib import Path

from respmon.config import default_config
from respmon.errors import UsageError
from respmon.publish.security import CLIENTS_FOLDER, create_key_pair, keys_folder
from respmon.station.auth import hash_password
from respmon.station.config import journal_url, load_station_config
from respmon.station.journal import open_journal


def _station_keys(folder: Path, client: str) -> None:
    """The station's pair, allowed by the simulated beds (keys.dir/clients/CLIENT.key)."""
    allowed = folder / CLIENTS_FOLDER / f"{client}.key"
    if not (folder / f"{client}.key_secret").exists():
        create_key_pair(folder, client, authorize=not allowed.exists())
        print(f"demo: made the station's key pair {folder / client}.key_secret", file=sys.stderr)
    if not allowed.exists():
        allowed.parent.mkdir(mode=0o700, exist_ok=True)
        allowed.write_bytes((folder / f"{client}.key").read_bytes())


def _demo_operator(config, config_path) -> None:
    journal = open_journal(journal_url(config, config_path))
    try:
        if journal.users():
            return
        password = secrets.token_urlsafe(9)
        journal.add_user("demo", hash_password(password), time.time())
        journal.record_action(time.time(), "console:demo", "user_added", None, None, {"user": "demo"})
    finally:
        journal.close()
    print(f"demo: operator 'demo' added, password {password} (respmon station user add NAME for real ones)",
          file=sys.stderr)


def run_demo(args) -> int:
    from respmon.simulate_cmd import SimulatedWard, ward_plans
    from respmon.station.app import run as run_station

    config = load_station_config(args.config)
    if args.demo > len(config.beds):
        raise UsageError(f"--demo {args.demo}: the config lists {len(config.beds)} beds; simulate at most that many")
    beds = config.beds[:args.demo]
    insecure = all(b.insecure for b in beds)
    if not insecure and any(b.insecure for b in beds):
        raise UsageError("--demo: the simulated beds are all CURVE or all insecure; the config mixes them")
    folder = keys_folder(config.keys.dir, Path(args.config) if args.config else None)
    if not insecure:
        _station_keys(folder, config.keys.client)
    _demo_operator(config, args.config)
    plans = [dataclasses.replace(plan, name=bed.name) for plan, bed in zip(ward_plans(len(beds), seed=1), beds)]
    ward = SimulatedWard(plans, [(b.endpoint, b.snapshot_endpoint) for b in beds], keys_dir=None if insecure else folder,
                         insecure=insecure, config=default_config(), source="station demo")
    ward.start()
    print(f"demo: {len(beds)} simulated beds publishing; the page: http://{config.station.listen}:"
          f"{config.station.port}/", file=sys.stderr, flush=True)
    try:
        return run_station(args)
    finally:
        ward.stop()
