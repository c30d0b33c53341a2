"""The human in the loop, end to end (issue 13), with no real patients.

A simulated ward: three beds breathe as healthy adults do in REM sleep (sim/sleep_styles.py:
irregular, with bursts of quick shallow breaths and brief pauses, no apnea), which the shipped
model misreads (central apnea and Cheyne-Stokes much of the time), and one bed has Cheyne-Stokes
respiration. The ward's engine is configured as some sites would (a Cheyne-Stokes alert after
WARD_CS_SUSTAIN_S of the pattern instead of the shipped 60 s), so the misreads become false
Cheyne-Stokes alarms. Their onsets go into a station journal as the station records them; a scripted
operator judges every alarm (false alarm on the REM beds, confirmed on the Cheyne-Stokes bed);
then `respmon labels export` -> `respmon train --finetune` -> `respmon evaluate --compare` (the gate,
which also checks that no held-out RSM set drops by more than 0.5 points) -> a running daemon takes
the candidate on SIGHUP. On unseen nights of the same style (other seeds, other beds) the false
alarms per hour must drop by at least half, and the Cheyne-Stokes bed must still alarm.

The nights run through the Monitor once; each model scores the same 60 s windows
(bench/human_loop.py says why that gives the daemon's numbers). Tiny fine-tune settings (2
epochs, 20 RSM windows per class and mode), as tests/test_finetune.py uses.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import time
from datetime import datetime

import pytest

from respmon.classify.infer import PatternClassifier
from respmon.classify.model_io import DEFAULT_MODEL
from respmon.config import load_config
from respmon.daemon.app import Daemon, load_configured_model
from respmon.daemon.notify import Notifier
from respmon.station.journal import open_journal
from tests.bench_modules import load_bench
from tests.conftest import REPO, run_cli

loop = load_bench("human_loop")

TRAIN_NIGHTS = [("rem-1", 9201), ("rem-2", 9202), ("rem-3", 9203)]
UNSEEN_NIGHTS = [("rem-5", 9301), ("rem-6", 9302)]
REM_NIGHT_S, CS_NIGHT_S = 1800.0, 900.0
SEED = 13


def _ward_config(tmp_path):
    path = tmp_path / "ward.yaml"
    path.write_text(f"alerts:\n  cheyne_stokes_sustain_s: {loop.WARD_CS_SUSTAIN_S}\n", encoding="utf-8")
    return path, load_config(path)


def _per_hour(nights, events_of) -> float:
    return sum(len(loop.false_alarms(n, events_of(n))) for n in nights) / sum(n.hours for n in nights)


def _deploy_on_sighup(tmp_path, candidate) -> str:
    """A daemon on a short recording, started with the shipped model; the config then names the
    candidate and a SIGHUP is sent: the version its heartbeats carry afterwards."""
    from tests.test_daemon_liveness import Recorder

    recording = tmp_path / "bed.db3"
    code, _, err = run_cli("simulate", "recording", "--script", "eupnea:12", "--out", str(recording),
                           "--width", "212", "--height", "120", "--fps", "6", "--seed", "3")
    assert code == 0, err
    deployed = tmp_path / "deployed.pt"
    shutil.copyfile(DEFAULT_MODEL, deployed)
    path = tmp_path / "respmon.yaml"
    path.write_text(f'source:\n  kind: recording\n  recording: "{recording}"\n  realtime: false\n'
                    f'publish:\n  heartbeat_interval_s: 0.2\nclassifier:\n  model: "{deployed}"\n', encoding="utf-8")
    config = load_config(path)
    classifier, fingerprint = load_configured_model(config)
    recorder = Recorder()
    daemon = Daemon(config, path, classifier, recorder, notifier=Notifier({}), model_fingerprint=fingerprint)
    thread = threading.Thread(target=daemon.run, name="daemon-under-test")
    previous = signal.signal(signal.SIGHUP, daemon.request_reload)

    def heartbeats(start=0):
        return [m for _, k, m in recorder.messages[start:] if k == "heartbeat"]

    def wait_for(found, what):
        deadline = time.monotonic() + 30.0
        while not (result := found()):
            assert time.monotonic() < deadline and thread.is_alive(), f"no {what}"
            time.sleep(0.05)
        return result

    thread.start()
    try:
        before = wait_for(heartbeats, "heartbeat")[0]["model_version"]
        shutil.copyfile(candidate, deployed)  # the same path, new contents: the operator's deployment
        start = len(recorder.messages)
        os.kill(os.getpid(), signal.SIGHUP)
        after = wait_for(lambda: [h for h in heartbeats(start) if h["model_version"] != before], "new version")
        assert thread.is_alive()
        return before, after[0]["model_version"]
    finally:
        daemon.request_stop()
        thread.join(timeout=10)
        signal.signal(signal.SIGHUP, previous)


@pytest.mark.usefixtures("paris")
def test_verdicts_to_a_better_deployed_model_halve_false_alarms_on_unseen_nights(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="respmon.daemon")
    _, config = _ward_config(tmp_path)
    shipped = PatternClassifier(None)

    # The ward's night: the alarms the shipped model raises, journaled; the operator's verdicts.
    journal_path = tmp_path / "station.db"
    journal = open_journal(f"sqlite:///{journal_path}")
    start_wall = datetime.now().timestamp() - 4 * 3600
    nights = loop.simulated_nights([(bed, "eupnea", seed, REM_NIGHT_S) for bed, seed in TRAIN_NIGHTS]
                                   + [("cs-1", "cheyne_stokes", 9204, CS_NIGHT_S)], config)
    judged, raised = {}, {}
    for night in nights:
        events = raised[night.bed] = loop.onsets(night, loop.scored(night, shipped), config.alerts,
                                                 shipped.version, start_wall)
        loop.journal_night(journal, night, events, start_wall)
        judged[night.bed] = loop.judge(journal, night, events, start_wall)
    journal.close()
    before_train = _per_hour(nights[:3], lambda n: raised[n.bed])
    assert before_train >= 3.0, f"the premise: the shipped model misreads this style ({before_train:.1f}/h)"
    assert judged["cs-1"] >= 1, "the Cheyne-Stokes bed alarmed"

    # export -> fine-tune -> gate
    labels = tmp_path / "labels.csv"
    code, out, err = run_cli("labels", "export", "--journal", journal_path, "--since", "12h", "--out", labels)
    assert code == 0, err
    rows = labels.read_text().splitlines()
    short = int(err.split(" raised before a whole minute")[0].rsplit(" ", 1)[1])  # alarms in the first minute
    assert len(rows) + short == sum(judged.values()) and len(rows) >= 10, err
    candidate = tmp_path / "candidate.pt"
    code, out, err = run_cli("train", "--finetune", labels, "--from", DEFAULT_MODEL, "--out", candidate,
                             "--epochs", "2", "--rsm-per-class", "20", "--seed", str(SEED))
    assert code == 0, err
    card = tmp_path / "README.md"
    shutil.copyfile(REPO / "models" / "README.md", card)
    code, out, err = run_cli("evaluate", "--compare", DEFAULT_MODEL, candidate, "--data", labels, "--card", card)
    assert code == 0 and out.rstrip().endswith("accepted"), out + err
    assert "## Fine-tunes" in card.read_text()

    # SIGHUP deploys it.
    old_version, new_version = _deploy_on_sighup(tmp_path, candidate)
    deployed = PatternClassifier(candidate)
    assert (old_version, new_version) == (shipped.version, deployed.version) and "+ft." in new_version

    # Unseen nights of the same style, other beds and seeds, and an unseen Cheyne-Stokes bed.
    *unseen, cs = loop.simulated_nights([(bed, "eupnea", seed, REM_NIGHT_S) for bed, seed in UNSEEN_NIGHTS]
                                        + [("cs-2", "cheyne_stokes", 9303, CS_NIGHT_S)], config)

    def events(model):
        return lambda n: loop.onsets(n, loop.scored(n, model), config.alerts, model.version, start_wall)

    before, after = _per_hour(unseen, events(shipped)), _per_hour(unseen, events(deployed))
    print(f"false alarms per hour on unseen nights: shipped {before:.1f}, fine-tuned {after:.1f}")
    assert before >= 3.0
    assert after <= 0.5 * before, (before, after)
    true_cs = [e for e in events(deployed)(cs) if e["condition"] == "cheyne_stokes"]
    assert true_cs, "the fine-tuned model still alarms on Cheyne-Stokes respiration"
