"""kill -9 during a scripted night (issue 11, "Done when"): after each restart the alarms that were
active are active again with the same ids, every onset gets exactly one clear, and
monitoring_restarted is raised.

`respmon run` (respmon.daemon.app.run: config file, CURVE keys, alarm journal file, Publisher,
Daemon) runs in a process of its own that is killed with SIGKILL, over a fake camera under
respmon.sources.camera whose scene is the night at the wall clock's time, 16 times faster than life,
so that the night goes on while the daemon is down. A subscriber with an allow-listed key records
every alert and asks each new daemon for its snapshot; bench/crash_restart.py is the harness and
says what check() holds the night to. The full run, 50 kills at moments drawn uniformly over 8
nights, is that script's (`.venv/bin/python bench/crash_restart.py`).

Here one night (eupnea, a central apnea, eupnea, tachypnea, a second apnea, an empty bed, eupnea)
and 10 kills: at random moments while each alarm is on (the apnea, the tachypnea, the empty bed),
at the four instants a kill can fall between the journal and the subscriber (the start's events
journaled, not yet sent; an event journaled, not yet sent; handed to ZeroMQ, not yet marked sent;
marked sent), and at three random moments (the first eupnea, the last one's end). No
wall-clock bound is asserted: events are waited for with generous timeouts.
"""

from __future__ import annotations

import time


from tests.bench_modules import load_bench

crash = load_bench("crash_restart")

SEED = 9101


def _plan():
    Kill = crash.Kill
    return [
        Kill("at", night_s=45.0),  # eupnea, nothing on
        Kill("after", condition="central_apnea", delay_s=10.0, until_s=220.0),
        Kill("die", how="start-record"),
        Kill("after", condition="tachypnea", delay_s=20.0, until_s=390.0),
        # (then the second apnea and the empty bed, which the daemon must have been running through:
        # one started beside a motionless person or an empty bed searches for a chest and cannot
        # tell that the bed is empty; nobody_in_bed clears the apnea and the tachypnea)
        Kill("after", condition="nobody_in_bed", delay_s=15.0, until_s=500.0),
        Kill("die", how="publish"),
        Kill("die", how="record"),
        Kill("die", how="published"),
        Kill("at", night_s=580.0),
        Kill("at", night_s=620.0),
    ]


def test_kill_9_ten_times_in_a_night_loses_no_alarm_and_clears_each_once(tmp_path):
    import random

    rng = random.Random(SEED)
    kills = _plan()
    for kill in kills:  # the random moments: 30-60 s, 560-595 s and 600-635 s
        if kill.kind == "at":
            kill.night_s = rng.uniform(kill.night_s - (15.0 if kill.night_s < 100 else 20.0), kill.night_s + 15.0)
    lines = []
    began = time.monotonic()
    night = crash.Night(tmp_path, kills, speed=16.0, cycles=1, seed=SEED, say=lines.append).run()
    problems, figures = crash.check(night)
    print(f"\n{time.monotonic() - began:.0f} s")
    print("\n".join(lines))
    print("\n".join(f"{key}: {value}" for key, value in figures.items()))
    assert not problems, "\n".join(problems + [f"(logs and journal in {tmp_path})"])
    # The night played as scripted: each alarm was on when a kill came, and came back.
    assert not night.skipped, night.skipped
    assert figures["kills"] == 10
    active = figures["kills with the condition active"]
    for condition in ("central_apnea", "tachypnea", "nobody_in_bed", "monitoring_restarted"):
        assert active.get(condition, 0) >= 1, (condition, active)
    assert figures["alarms restored (in a first snapshot)"] >= 4
    # The instants between the journal and the subscriber were all hit (each daemon died there).
    assert [life.how for life in night.lives if life.how.startswith("died")] == [
        "died at start-record", "died at publish", "died at record", "died at published"]
