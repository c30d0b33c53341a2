"""`respmon keys`: make and list the CURVE key pairs that decide who may read a bed's alerts."""

from __future__ import annotations

import json

from respmon.config import load_config
from respmon.publish.security import CLIENTS_FOLDER, create_key_pair, keys_folder, list_keys


def run(args) -> int:
    config = load_config(args.config)
    folder = args.dir if args.dir is not None else keys_folder(config.keys.dir, args.config)
    if args.keys_command == "create":
        public_path, secret_path = create_key_pair(folder, args.name, authorize=args.authorize)
        print(f"created {public_path} (public: give it to whoever connects to or is connected by "
              f"{args.name}) and {secret_path} (secret, owner-only)")
        if args.authorize:
            print(f"allowed {args.name} to connect to the beds that read {folder / CLIENTS_FOLDER} "
                  "(a running daemon reads it again on SIGHUP)")
        return 0
    rows = list_keys(folder)
    for row in rows:
        if args.json:
            print(json.dumps(row))
        else:
            print(f"{row['kind']:<16} {row['name']:<20} {row['public_key'] or '-':<42}"
                  + (f" PROBLEM: {row['problem']}" if row["problem"] else ""))
    if not rows and not args.json:
        print(f"no keys in {folder} (make them with `respmon keys create NAME`)")
    return 1 if any(row["problem"] for row in rows) else 0
