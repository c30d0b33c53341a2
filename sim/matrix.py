"""The scenes of the robustness matrix: drawn at random from a seed, rendered in memory.

Each scene is a person in bed seen by a D4xx camera with the harder sensor (sim/sensor.py) and
body (sim/body.py) models, at a random distance and tilt, breathing in one of these ways:

- ``apnea``: regular breathing at 6-45 /min, a central apnea of 12-60 s, breathing again;
- ``breathing``: regular breathing at 6-45 /min for 3 min, in half of them with a hypopnea episode
  (30-50 % of the depth for 20-60 s) in the middle: no apnea anywhere;
- ``biots`` / ``cheyne_stokes``: 90 s of eupnea, then the pattern for 4 min.

A scene's frames go straight from the renderer into the monitoring path (`Monitor.frame`), the
stage where live and replayed frames meet; no `.db3` is written, so hundreds of scenes stay cheap.
Everything drawn is in `SceneSpec` and goes into the bench's results.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterator

import numpy as np

from respmon.patterns import pattern_for_rate
from respmon.sim.body import BodyKnobs, add_body_motion
from respmon.sim.recording import Timeline, build_timeline
from respmon.sim.scene import BedScene
from respmon.sim.script import parse_script
from respmon.sim.sensor import SensorKnobs

# The cheapest mode to render (424x240 at the D4xx's slowest rate), for tests; far harder than the
# daemon's default 848x480 at 30 fps (twice the depth noise per pixel, fewer frames to average).
# bench/eval_matrix.py runs the daemon's own default mode unless told otherwise.
WIDTH, HEIGHT, FPS = 424, 240, 6
DISTANCE_RANGE_M = (0.8, 2.5)
TILT_RANGE_DEG = (0.0, 25.0)
RATE_RANGE_BPM = (6.0, 45.0)
APNEA_RANGE_S = (12.0, 60.0)
HYPOPNEA_RANGE_S = (20.0, 60.0)
KINDS = ("apnea", "breathing", "biots", "cheyne_stokes")
KIND_WEIGHTS = (0.5, 0.3, 0.1, 0.1)  # enough apneas and breathing scenes in every split


@dataclass(frozen=True)
class SceneSpec:
    seed: int
    kind: str
    script: str
    distance_m: float
    tilt_deg: float
    rate_bpm: float | None  # the breathing rate before any event (None: drawn by the pattern)
    apnea_s: float | None
    sensor: SensorKnobs
    body: BodyKnobs

    def as_dict(self) -> dict:
        d = asdict(self)
        d["sensor"], d["body"] = self.sensor.as_dict(), self.body.as_dict()
        return d


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def draw_scene(seed: int) -> SceneSpec:
    rng = np.random.default_rng([seed, 20261201])
    kind = str(rng.choice(KINDS, p=KIND_WEIGHTS))
    distance_m = float(rng.uniform(*DISTANCE_RANGE_M))
    tilt_deg = float(rng.uniform(*TILT_RANGE_DEG))
    # Rates evenly spread on a log scale: as many slow as fast cells.
    rate = round(_log_uniform(rng, *RATE_RANGE_BPM), 2)
    pattern = pattern_for_rate(rate)
    apnea_s = None
    if kind == "apnea":
        apnea_s = round(float(rng.uniform(*APNEA_RANGE_S)), 1)
        lead = round(float(rng.uniform(60.0, 90.0)), 1)
        script = f"{pattern}@{rate}:{lead},central_apnea:{apnea_s},{pattern}@{rate}:60"
    elif kind == "breathing":
        if rng.random() < 0.5:
            hyp = round(float(rng.uniform(*HYPOPNEA_RANGE_S)), 1)
            script = f"{pattern}@{rate}:80,hypopnea@{rate}:{hyp},{pattern}@{rate}:60"
        else:
            script = f"{pattern}@{rate}:180"
    else:
        rate = None
        script = f"eupnea:90,{kind}:240"
    return SceneSpec(seed, kind, script, round(distance_m, 3), round(tilt_deg, 2), rate, apnea_s,
                     SensorKnobs.draw(rng), BodyKnobs.draw(rng))


@dataclass
class RenderedScene:
    spec: SceneSpec
    fps: float
    timeline: Timeline  # breathing only (the truth of effort)
    surface_mm: np.ndarray  # what the camera sees move: breathing + body events, through the blanket
    events: list[dict]


def _breathing_allowed(timeline: Timeline) -> np.ndarray:
    allowed = np.zeros(timeline.frame_count, dtype=bool)
    for seg in timeline.segments:
        if seg["pattern"] in ("eupnea", "bradypnea", "tachypnea", "hypopnea"):
            allowed[int(round(seg["start_s"] * timeline.fps)):int(round(seg["end_s"] * timeline.fps))] = True
    return allowed


def build_scene(spec: SceneSpec, fps: float = FPS) -> RenderedScene:
    rng = np.random.default_rng([spec.seed, 1])
    timeline = build_timeline(parse_script(spec.script), fps, rng)
    x = timeline.displacement_mm
    breathing = x[_breathing_allowed(timeline)]
    tidal = float(np.percentile(breathing, 95) - np.percentile(breathing, 5)) if breathing.size else 5.0
    surface, events = add_body_motion(x, fps, spec.body, _breathing_allowed(timeline), tidal, rng)
    return RenderedScene(spec, fps, timeline, surface, events)


def frames(scene: RenderedScene, width: int = WIDTH, height: int = HEIGHT) -> Iterator[tuple[float, np.ndarray]]:
    """(t_s, uint16 depth in mm) for every frame of the scene, in a depth mode of width x height."""
    spec = scene.spec
    bed = BedScene(width, height, distance_m=spec.distance_m, tilt_deg=spec.tilt_deg, seed=spec.seed,
                   sensor=spec.sensor)
    tl = scene.timeline
    for i in range(tl.frame_count):
        t_s = i / scene.fps
        yield t_s, bed.render(float(scene.surface_mm[i]), present=bool(tl.present[i]),
                              pose_mm=tuple(tl.pose_mm[i]), t_s=t_s)
