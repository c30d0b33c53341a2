"""`respmon` command line: one subcommand per job, one clear line and exit 2 on bad input."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from respmon import __version__
from respmon.errors import UsageError
from respmon.patterns import PATTERNS


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage block
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _rate_hz(text: str) -> float:
    """A signal's sample rate: 0.5 to 1000 Hz (breathing needs a few samples a second; nothing here
    samples a chest faster). 1e9 or 1e-6 made the classifier's resampling run out of memory or time."""
    value = _positive_float(text)
    if not 0.5 <= value <= 1000.0:
        raise argparse.ArgumentTypeError(f"must be 0.5 to 1000 Hz, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be 0 to {2**32 - 1}, got {text!r}")
    return value


def _checked(check, text: str) -> str:
    try:
        check(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _endpoint(text: str) -> str:
    from respmon.config import check_endpoint

    return _checked(check_endpoint, text)


def _bed(text: str) -> str:
    from respmon.config import check_bed

    return _checked(check_bed, text)


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, default=None,
        help="config file (default: the built-in defaults, which config.yaml as shipped states)",
    )


def _duration_s(text: str) -> float:
    """12h, 90m, 2d, 3600s: a span back in time, up to 31 days."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        value = float(text[:-1]) * units[text[-1]]
    except (KeyError, ValueError, IndexError):
        raise argparse.ArgumentTypeError(f"must be a number with s, m, h or d (12h), got {text[:40]!r}") from None
    if not (math.isfinite(value) and 0 < value <= 31 * 86400):
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 31 days, got {text[:40]!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="respmon", description="Contactless respiratory monitoring from a RealSense depth camera.")
    parser.add_argument("--version", action="version", version=f"respmon {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    simulate = commands.add_parser("simulate", help="generate RSM signals or synthetic depth recordings")
    kinds = simulate.add_subparsers(dest="kind", metavar="KIND", parser_class=_Parser)
    kinds.required = True

    signals = kinds.add_parser("signals", help="breathing signals from the Respiratory Simulation Model")
    signals.add_argument("--pattern", required=True, choices=PATTERNS + ("all",), metavar="NAME|all",
                         help=f"one of: {', '.join(PATTERNS)}, or all")
    signals.add_argument("--count", type=_positive_int, required=True, help="signals per pattern")
    signals.add_argument("--mode", choices=("authors", "physiological"), default="authors",
                         help="authors: their MATLAB model; physiological: chest displacement in mm")
    signals.add_argument("--authors-version", choices=("2019", "2020"), default="2020",
                         help="which release of the authors' code (2019 wrote their Breathing_TRAIN.csv)")
    signals.add_argument("--duration", type=_positive_float, default=60.0, help="seconds per signal")
    signals.add_argument("--rate-hz", type=_rate_hz, default=None,
                         help="sample rate (default: signal.rate_hz from the config)")
    signals.add_argument("--seed", type=_seed, default=0)
    signals.add_argument("--out", type=Path, required=True, help="FILE.csv (authors' layout) or FILE.npz")
    _add_config(signals)

    recording = kinds.add_parser("recording", help="a synthetic RealSense depth recording (.db3) and its truth")
    recording.add_argument("--script", required=True,
                           help="segments NAME[@RATE]:SECONDS, e.g. eupnea@14:60,central_apnea:25,motion:4,absent:20")
    recording.add_argument("--out", type=Path, required=True, help="FILE.db3; FILE.truth.json is written beside it")
    recording.add_argument("--width", type=_positive_int, default=None)
    recording.add_argument("--height", type=_positive_int, default=None)
    recording.add_argument("--fps", type=_positive_int, default=None)
    recording.add_argument("--distance-m", type=_positive_float, default=None, help="camera to mattress")
    recording.add_argument("--tilt-deg", type=float, default=None, help="camera tilt from straight down")
    recording.add_argument("--seed", type=_seed, default=0)
    _add_config(recording)

    beds = kinds.add_parser("beds", help="many simulated beds in one process, publishing as bed daemons do "
                                         "(a living ward for a station)")
    beds.add_argument("--count", type=int, required=True, help="how many beds, 1 to 256")
    beds.add_argument("--publish", type=_endpoint, required=True, metavar="tcp://HOST:PORT",
                      help="bed i publishes on PORT+2(i-1) and answers snapshots on the port after it")
    beds.add_argument("--script", default=None,
                      help="segments NAME[@RATE]:SECONDS, looped, every bed at its own point of it; names: "
                           "eupnea, hypopnea, tachypnea, bradypnea, biots, cheyne_stokes, central_apnea, "
                           "low_quality, motion, absent (default: a mix that shows each alarm within minutes)")
    beds.add_argument("--seed", type=_seed, default=0, help="where each bed starts in the script, its rates")
    beds.add_argument("--speed", type=_positive_float, default=1.0,
                      help="simulated seconds per wall-clock second (heartbeats stay on the wall clock)")
    beds.add_argument("--prefix", default="bed-", help="bed names: PREFIX1..PREFIXN (default: bed-)")
    beds.add_argument("--for", dest="for_s", type=_positive_float, default=None, metavar="SECONDS",
                      help="stop after this many seconds (default: until Ctrl-C or SIGTERM)")
    security = beds.add_mutually_exclusive_group()
    security.add_argument("--keys-dir", type=Path, default=None, metavar="DIR",
                          help="CURVE: each bed's DIR/BED.key_secret (made when missing) and the allowed "
                               "clients in DIR/clients/ (default: keys.dir)")
    security.add_argument("--insecure", action="store_true", help="plain text, allowed on loopback only")
    _add_config(beds)

    replay = commands.add_parser(
        "replay", help="run the monitoring path over a depth recording or a CSV breathing waveform")
    replay.add_argument("file", type=Path, metavar="FILE", help="a .db3 or .bag depth recording, or a .csv waveform")
    replay.add_argument("--column", default=None, help="CSV: the value column (default: the only non-time column)")
    replay.add_argument("--rate-hz", type=_rate_hz, default=None,
                        help="CSV without a time column (t in s, or timestamp in ms): its sample rate")
    replay.add_argument("--plot", type=Path, default=None, metavar="OUT.png",
                        help="draw the signal, the rate and the quality over time")
    replay.add_argument("--publish", type=_endpoint, default=None, metavar="ENDPOINT",
                        help="also publish vitals, alerts and heartbeats on this ZeroMQ PUB endpoint, "
                             "exactly as `respmon run` does")
    replay.add_argument("--snapshot", type=_endpoint, default=None, metavar="ENDPOINT",
                        help="with --publish: the snapshot endpoint (default: publish.snapshot_endpoint)")
    replay.add_argument("--realtime", action="store_true",
                        help="play at the recorded speed instead of as fast as possible")
    _add_config(replay)

    run = commands.add_parser("run", help="the bedside daemon: camera (or recording) to alerts over ZeroMQ")
    _add_config(run)

    watch = commands.add_parser("watch", help="operator console: active alerts, then live alert events")
    watch.add_argument("--endpoint", type=_endpoint, default=None,
                       help="the daemon's PUB endpoint (default: publish.endpoint)")
    watch.add_argument("--snapshot-endpoint", type=_endpoint, default=None,
                       help="the daemon's snapshot endpoint (default: publish.snapshot_endpoint)")
    watch.add_argument("--bed", type=_bed, default=None, help="only this bed (default: every bed on the endpoint)")
    watch.add_argument("--json", action="store_true", help="JSON lines instead of text")
    watch.add_argument("--for", dest="for_s", type=_positive_float, default=None, metavar="SECONDS",
                       help="stop after this many seconds (default: until Ctrl-C)")
    _add_config(watch)

    keys = commands.add_parser("keys", help="CURVE key pairs: who may read a bed's alerts (create, list)")
    key_commands = keys.add_subparsers(dest="keys_command", metavar="ACTION", parser_class=_Parser)
    key_commands.required = True
    create = key_commands.add_parser(
        "create", help="a key pair NAME.key (public) and NAME.key_secret (owner-only) in the key folder")
    create.add_argument("name", type=_bed, metavar="NAME",
                        help="a bed's name (its server keys) or a console's / station's (keys.client)")
    create.add_argument("--authorize", action="store_true",
                        help="also let it connect to this box's beds (its public key into DIR/clients/)")
    create.add_argument("--dir", type=Path, default=None, help="key folder (default: keys.dir)")
    _add_config(create)
    listing = key_commands.add_parser("list", help="the key pairs and the allowed client keys in the key folder")
    listing.add_argument("--dir", type=Path, default=None, help="key folder (default: keys.dir)")
    listing.add_argument("--json", action="store_true", help="JSON lines instead of text")
    _add_config(listing)

    from respmon.classify.names import ARCHS

    train = commands.add_parser("train", help="train a pattern classifier on RSM signals (both modes)")
    train.add_argument("--arch", choices=ARCHS, default="biatgru", help="network (default: biatgru)")
    train.add_argument("--epochs", type=_positive_int, default=None, help="default: classifier.epochs")
    train.add_argument("--seed", type=_seed, default=None, help="default: classifier.seed")
    train.add_argument("--per-class", type=_positive_int, default=None,
                       help="training windows per pattern and RSM mode (default: classifier.train_per_class)")
    train.add_argument("--model", type=Path, default=None, metavar="OUT.pt", help="default: ARCH.pt here")
    train.add_argument("--plot", type=Path, default=None, metavar="history.png", help="loss and accuracy per epoch")
    train.add_argument("--scene-windows", type=Path, default=None, metavar="FILE.npz",
                       help="also train on windows the pipeline extracted from rendered scenes "
                            "(bench/extract_scene_windows.py; models/training/scene-windows.npz holds 1,110 from dev scenes)")
    train.add_argument("--finetune", type=Path, default=None, metavar="labels.csv",
                       help="fine-tune a trained model instead: on these labelled windows (labels.jsonl beside "
                            "them) mixed with fresh RSM windows, with a cross-validation grouped by bed; "
                            "the architecture is --from's (respmon/classify/finetune.py)")
    train.add_argument("--from", dest="from_model", type=Path, default=None, metavar="BASE.pt",
                       help="with --finetune: the model to start from (default: classifier.model, the shipped model)")
    train.add_argument("--out", type=Path, default=None, metavar="CANDIDATE.pt",
                       help="with --finetune: where the candidate goes")
    train.add_argument("--rsm-per-class", type=_positive_int, default=None,
                       help="with --finetune: fresh RSM windows per pattern and mode mixed in (default: 100); "
                            "--epochs defaults to 5 there")
    _add_config(train)

    evaluate = commands.add_parser("evaluate", help="confusion matrix and per-class metrics of a model")
    evaluate.add_argument("--model", type=Path, default=None, help="default: classifier.model (the shipped model)")
    evaluate.add_argument("--data", type=Path, action="extend", nargs="+", default=None, metavar="FILE.csv",
                          help="labelled signals, one per row (default: held-out RSM test sets, both modes); "
                               "with --compare: labelled windows with their .jsonl, one or more files")
    evaluate.add_argument("--rate-hz", type=_rate_hz, default=None, help="sample rate of --data")
    evaluate.add_argument("--labels", choices=("first-column",), default=None, help="where --data keeps its labels")
    evaluate.add_argument("--plot", type=Path, default=None, metavar="confusion.png")
    evaluate.add_argument("--compare", type=Path, nargs=2, default=None, metavar=("BASE.pt", "CANDIDATE.pt"),
                          help="both models side by side, and the gate a candidate must pass to replace the "
                               "base (exit 1 and one line saying why when it fails)")
    evaluate.add_argument("--card", type=Path, default=None, metavar="models/README.md",
                          help="with --compare: append the accepted candidate's section to this model card")
    _add_config(evaluate)

    classify = commands.add_parser("classify", help="the breathing pattern of each signal in a CSV (one per row)")
    classify.add_argument("file", type=Path, metavar="FILE.csv")
    classify.add_argument("--rate-hz", type=_rate_hz, required=True, help="sample rate of the signals")
    classify.add_argument("--labels", choices=("first-column",), default=None,
                          help="rows start with the authors' label (1..7): report accuracy too")
    classify.add_argument("--model", type=Path, default=None, help="default: classifier.model (the shipped model)")
    _add_config(classify)

    labels = commands.add_parser("labels", help="labelled training windows from the station's journal (export)")
    label_commands = labels.add_subparsers(dest="labels_command", metavar="ACTION", parser_class=_Parser)
    label_commands.required = True
    label_export = label_commands.add_parser(
        "export", help="each judged alarm's 60 s signal with the operator's label: CSV (authors' layout) and a "
                       ".jsonl sidecar (docs/labels.md)")
    label_export.add_argument("--journal", required=True, metavar="station.yaml|URL",
                              help="the station's config (its journal.url), a journal URL (sqlite:///PATH.db, "
                                   "postgresql://...) or a SQLite journal file")
    label_export.add_argument("--since", required=True, type=_duration_s, metavar="12h",
                              help="the alarms with an onset this far back: 12h, 90m, 2d")
    label_export.add_argument("--out", required=True, type=Path, metavar="labels.csv",
                              help="FILE.csv; FILE.jsonl is written beside it")

    station = commands.add_parser("station", help="the ward station: every bed on one web page, alarms journaled")
    station.add_argument("--config", type=Path, default=None, metavar="station.yaml",
                         help="the station's config (default: built-in defaults, no beds)")
    station.add_argument("--demo", type=_positive_int, default=None, metavar="N",
                         help="also run N simulated beds in this process, the config's beds' endpoints "
                              "(keys and a demo operator created when missing)")
    station_commands = station.add_subparsers(dest="station_command", metavar="COMMAND", parser_class=_Parser)
    user = station_commands.add_parser("user", help="operator accounts (add, list, disable, enable)")
    user_commands = user.add_subparsers(dest="user_command", metavar="ACTION", parser_class=_Parser)
    user_commands.required = True
    user_add = user_commands.add_parser("add", help="add an operator (asks for the password twice)")
    user_add.add_argument("name", help="the operator's user name (letters, digits, '.', '_', '-')")
    user_add.add_argument("--password-stdin", action="store_true",
                          help="read the password from the first line of stdin (scripts)")
    user_add.add_argument("--config", type=Path, default=None, dest="user_config", metavar="station.yaml")
    user_list = user_commands.add_parser("list", help="the operators")
    user_list.add_argument("--config", type=Path, default=None, dest="user_config", metavar="station.yaml")
    for action, text in (("disable", "end an operator's access: no login, open pages end within a minute"),
                         ("enable", "give a disabled operator access again")):
        switch = user_commands.add_parser(action, help=text)
        switch.add_argument("name", help="the operator's user name")
        switch.add_argument("--config", type=Path, default=None, dest="user_config", metavar="station.yaml")

    report = commands.add_parser("report", help="a one-page night report of a bed from the station's journal")
    report.add_argument("--bed", required=True, help="the bed's name")
    report.add_argument("--since", required=True, type=_duration_s, metavar="12h",
                        help="how far back: 12h, 90m, 2d")
    report.add_argument("--out", required=True, type=Path, metavar="night.pdf|night.png")
    report.add_argument("--config", type=Path, default=None, metavar="station.yaml")

    demo = commands.add_parser(
        "demo", help="generate the configured synthetic recording and replay it through the pipeline")
    demo.add_argument("--keep", type=Path, default=None, metavar="DIR",
                      help="keep the recording in DIR (default: a temporary folder, removed after)")
    _add_config(demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "simulate":
            from respmon import simulate_cmd

            return simulate_cmd.run(args)
        if args.command == "replay":
            from respmon import replay

            return replay.run(args)
        if args.command in ("train", "evaluate", "classify"):
            from respmon import classify_cmd

            return getattr(classify_cmd, f"run_{args.command}")(args)
        if args.command == "demo":
            from respmon import demo

            return demo.run(args)
        if args.command == "run":
            from respmon.daemon import app

            return app.run(args)
        if args.command == "keys":
            from respmon import keys_cmd

            return keys_cmd.run(args)
        if args.command == "labels":
            from respmon import labels_cmd

            return labels_cmd.run(args)
        if args.command == "station":
            from respmon.station import cli as station_cli

            return station_cli.run(args)
        if args.command == "report":
            from respmon.station import cli as station_cli

            return station_cli.run_report(args)
        if args.command == "watch":
            from respmon import watch

            return watch.run(args)
    except UsageError as exc:
        print(f"respmon: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("respmon: interrupted", file=sys.stderr)
        return 130
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
