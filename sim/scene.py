"""Synthetic depth images of a person lying in bed, as a D4xx depth camera above the bed sees them.

World frame (millimetres): X across the bed, Y along the bed from the head (-) toward the feet (+),
Z up from the floor (Z = 0). The bed is centred on X = 0, Y = 0; the mattress top is at Z = 550.

The scene is a height field (floor, bed frame, mattress, pillow, and the person: head, torso under a
blanket, arms on the blanket, blanket over the legs). It is ray-cast once per (presence, pose) into a
clean depth image plus a per-pixel breathing weight; every frame is then
``clean - weight * displacement + noise`` in vectorised float32.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from respmon.sim.sensor import SensorKnobs, SensorModel, pixel_sigma_mm

CELL_MM = 2.5  # height-field grid spacing
MATTRESS_TOP_MM = 550.0
BED_FRAME_TOP_MM = 330.0
BED_HALF_WIDTH_MM = 450.0
BED_HALF_LENGTH_MM = 1000.0
BLANKET_THICKNESS_MM = 15.0
BLANKET_HEAD_END_Y_MM = -480.0  # the blanket covers the body from the lower chest down
AIM_POINT_MM = (0.0, -300.0, MATTRESS_TOP_MM)  # the optical axis passes through the torso

HORIZONTAL_FOV_DEG = 87.0  # D435 depth stream
NOISE_K_MM = 1.5  # z-noise sigma = NOISE_K_MM * z_m**2
DRIFT_AMPLITUDE_MM = 0.3
DRIFT_PERIOD_S = 420.0
EDGE_JUMP_MM = 40.0  # neighbouring pixels further apart than this form a depth discontinuity
FLYING_PIXEL_FRACTION = 0.3  # of the discontinuity pixels, per frame
_CACHE_SIZE = 16

# Surface labels of the height field (also exposed per pixel as BedScene.labels).
FLOOR, BED_FRAME, MATTRESS, PILLOW, HEAD, TORSO, ARM, LEGS = range(8)


@dataclass(frozen=True)
class Intrinsics:
    width: int
    height: int
    fx: float
    fy: float
    ppx: float
    ppy: float


def d4xx_intrinsics(width: int, height: int, hfov_deg: float = HORIZONTAL_FOV_DEG) -> Intrinsics:
    """Pinhole intrinsics with square pixels and the principal point at the image centre."""
    fx = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    return Intrinsics(width, height, fx, fx, (width - 1) / 2.0, (height - 1) / 2.0)


@dataclass
class _Grid:
    """Axis-aligned world grid over the bed; outside it the world is bare floor."""

    x0_mm: float
    y0_mm: float
    nx: int
    ny: int

    @classmethod
    def around_bed(cls) -> "_Grid":
        half_x, half_y = 620.0, 1150.0
        return cls(-half_x, -half_y, int(2 * half_x / CELL_MM) + 1, int(2 * half_y / CELL_MM) + 1)

    def coords(self) -> tuple[np.ndarray, np.ndarray]:
        x = (self.x0_mm + CELL_MM * np.arange(self.nx, dtype=np.float32))[None, :]
        y = (self.y0_mm + CELL_MM * np.arange(self.ny, dtype=np.float32))[:, None]
        return x, y


def _superellipse_bump(x, y, cx, cy, ax, ay, height, power=4.0):
    s = np.abs((x - cx) / ax) ** power + np.abs((y - cy) / ay) ** power
    return height * np.sqrt(np.clip(1.0 - s, 0.0, 1.0))


def _ellipsoid_top(x, y, cx, cy, cz, ax, ay, az):
    s = ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2
    return np.where(s < 1.0, cz + az * np.sqrt(np.clip(1.0 - s, 0.0, 1.0)), 0.0)


def _capsule_top(x, y, cx, y_start, y_end, radius, base_z):
    """Top of a horizontal cylinder along Y with rounded ends, lying with its bottom at base_z."""
    dy = np.clip(y, y_start, y_end) - y
    r2 = (x - cx) ** 2 + dy**2
    return np.where(r2 < radius**2, base_z + radius + np.sqrt(np.clip(radius**2 - r2, 0.0, None)), 0.0)


def _static_heights(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Floor, bed frame, headboard, mattress (rounded edges) and pillow."""
    h = np.zeros(np.broadcast_shapes(x.shape, y.shape), np.float32)
    label = np.full(h.shape, FLOOR, np.uint8)

    frame = (np.abs(x) <= BED_HALF_WIDTH_MM + 25) & (np.abs(y) <= BED_HALF_LENGTH_MM + 25)
    h[frame] = BED_FRAME_TOP_MM
    label[frame] = BED_FRAME
    headboard = (np.abs(x) <= BED_HALF_WIDTH_MM + 25) & (y >= -BED_HALF_LENGTH_MM - 50) & (y < -BED_HALF_LENGTH_MM - 25)
    h[headboard] = 900.0
    label[headboard] = BED_FRAME

    edge_mm = np.minimum(BED_HALF_WIDTH_MM - np.abs(x), BED_HALF_LENGTH_MM - np.abs(y))
    round_mm = 40.0
    inset_mm = round_mm - np.minimum(edge_mm, round_mm)
    mattress_h = MATTRESS_TOP_MM - round_mm + np.sqrt(np.clip(round_mm**2 - inset_mm**2, 0.0, None))
    mattress = edge_mm >= 0
    h = np.where(mattress, mattress_h, h).astype(np.float32)
    label[mattress] = MATTRESS

    pillow = MATTRESS_TOP_MM + _superellipse_bump(x, y, 0.0, -820.0, 300.0, 150.0, 130.0)
    on_pillow = pillow > h + 0.5
    h = np.where(on_pillow, pillow, h).astype(np.float32)
    label[on_pillow] = PILLOW
    return h, label


def _torso_profile(y):
    """Half-width and thickness above the mattress of the torso along the body axis."""
    half_width = np.interp(y, [-600, -520, -350, -100, 0, 60], [120, 200, 175, 150, 175, 170])
    thickness = np.interp(y, [-620, -540, -350, -150, 0, 60], [0, 150, 215, 185, 160, 150])
    return half_width, thickness


def _breathing_weight(x, y):
    """Fraction of the breathing displacement at each point of the torso: chest 1, abdomen 0.5-0.6,
    fading to 0 at the shoulders, hips and flanks."""
    along = np.interp(y, [-570, -470, -260, -160, -60, 20], [0.0, 1.0, 1.0, 0.6, 0.45, 0.0])
    half_width, _ = _torso_profile(y)
    r = np.abs(x) / half_width
    across = np.where(r < 0.55, 1.0, 0.5 + 0.5 * np.cos(np.pi * np.clip((r - 0.55) / 0.5, 0.0, 1.0)))
    return (along * across).astype(np.float32)


def _person_heights(x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Height, label and breathing weight of the person with the blanket (0 height: no person)."""
    shape = np.broadcast_shapes(x.shape, y.shape)
    half_width, thickness = _torso_profile(y)
    r = np.clip(1.0 - (x / half_width) ** 2, 0.0, None)
    torso = np.where(r > 0, MATTRESS_TOP_MM + thickness * r**0.6, 0.0)
    leg_radius = np.interp(y, [0, 450, 900], [80, 60, 45])  # thigh to ankle
    legs = np.zeros(shape)
    for side in (-1.0, 1.0):
        cx = side * 105.0
        rad = leg_radius
        r2 = (x - cx) ** 2
        inside = (r2 < rad**2) & (y >= 0) & (y <= 900)
        legs = np.maximum(legs, np.where(inside, MATTRESS_TOP_MM + rad + np.sqrt(np.clip(rad**2 - r2, 0, None)), 0.0))
        feet = _ellipsoid_top(x, y, cx, 930.0, MATTRESS_TOP_MM + 60, 50.0, 40.0, 110.0)
        legs = np.maximum(legs, feet)

    # The blanket lies over the torso and legs and drapes onto the mattress beside them.
    under = np.maximum(torso, legs)
    above_mattress = np.clip(under - MATTRESS_TOP_MM, 0.0, None) * (y >= BLANKET_HEAD_END_Y_MM)
    drape = ndimage.gaussian_filter(above_mattress, sigma=30.0 / CELL_MM)
    blanket_rel = np.maximum(above_mattress, drape) + BLANKET_THICKNESS_MM
    blanket = np.where(
        (np.abs(x) <= BED_HALF_WIDTH_MM + 10) & (y >= BLANKET_HEAD_END_Y_MM) & (y <= BED_HALF_LENGTH_MM),
        MATTRESS_TOP_MM + blanket_rel,
        0.0,
    )
    covered_torso = np.where(y < BLANKET_HEAD_END_Y_MM, torso, 0.0)  # shoulders above the blanket edge

    head = _ellipsoid_top(x, y, 0.0, -760.0, 650.0, 78.0, 100.0, 95.0)
    nose = _ellipsoid_top(x, y, 0.0, -735.0, 735.0, 14.0, 22.0, 24.0)
    neck = _ellipsoid_top(x, y, 0.0, -640.0, 600.0, 60.0, 70.0, 60.0)
    head = np.maximum(np.maximum(head, nose), neck)

    arm_base = MATTRESS_TOP_MM + BLANKET_THICKNESS_MM
    arms = np.maximum(
        _capsule_top(x, y, -240.0, -520.0, 120.0, 45.0, arm_base),
        _capsule_top(x, y, 240.0, -520.0, 120.0, 45.0, arm_base),
    )

    parts = np.stack([np.broadcast_to(p, shape) for p in (blanket, covered_torso, head, arms)])
    top = parts.argmax(axis=0)
    h = parts.max(axis=0).astype(np.float32)
    y_full = np.broadcast_to(y, shape)
    body_label = np.where(y_full < 0, TORSO, LEGS)
    label = np.choose(top, [body_label, TORSO, HEAD, ARM]).astype(np.uint8)
    label[h <= 0] = FLOOR
    weight = np.where(label == TORSO, _breathing_weight(x, y), 0.0).astype(np.float32)
    return h, label, weight


def _flat_blanket_heights(x, y, rng: np.random.Generator) -> np.ndarray:
    """The blanket left on the empty bed: flat, with a few soft wrinkles."""
    shape = np.broadcast_shapes(x.shape, y.shape)
    wrinkles = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=60.0 / CELL_MM)
    wrinkles *= 8.0 / max(float(wrinkles.std()), 1e-9)
    on_bed = (np.abs(x) <= BED_HALF_WIDTH_MM + 10) & (y >= BLANKET_HEAD_END_Y_MM + 150) & (y <= BED_HALF_LENGTH_MM)
    return np.where(on_bed, MATTRESS_TOP_MM + BLANKET_THICKNESS_MM + np.abs(wrinkles), 0.0).astype(np.float32)


@dataclass
class _Layers:
    """Everything a frame needs that does not change from frame to frame."""

    depth_mm: np.ndarray  # float32, clean depth
    weight: np.ndarray  # float32, breathing weight per pixel
    labels: np.ndarray  # uint8
    sigma_mm: np.ndarray  # float32, noise sigma per pixel
    p_invalid: np.ndarray  # float32, per-frame probability of a zero pixel
    edge_index: np.ndarray  # flat indices of depth-discontinuity pixels
    edge_near_mm: np.ndarray
    edge_far_mm: np.ndarray


class BedScene:
    """A depth camera ``distance_m`` from the torso, looking down at a bed, optionally tilted by
    ``tilt_deg`` (the camera moves toward the foot end and looks back toward the head).

    ``labels`` (surface per pixel), ``breathing_weight`` (depth change per mm of displacement) and
    ``chest_mask`` (weight >= 0.5) describe the person in the default pose. Renders for each
    presence/pose are cached (ray casting one costs ~0.1 s at 424x240, ~0.7 s at 848x480); a frame
    then costs ~1 ms at 424x240."""

    def __init__(self, width: int, height: int, distance_m: float = 1.2, tilt_deg: float = 0.0, seed: int = 0,
                 sensor: SensorKnobs | None = None):
        if not 0.0 <= tilt_deg <= 45.0:
            raise ValueError(f"tilt_deg must be in [0, 45], got {tilt_deg}")
        self.intrinsics = d4xx_intrinsics(width, height)
        # None: the original white-noise sensor; knobs: the harder D4xx model of sim/sensor.py.
        self.sensor = None if sensor is None else SensorModel(sensor, width, self.intrinsics.fx, seed + 7919)
        self.distance_m = distance_m
        self.tilt_deg = tilt_deg
        self._rng = np.random.default_rng(seed)
        self._drift_phase = float(self._rng.uniform(0.0, 2.0 * math.pi))
        self._grid = _Grid.around_bed()
        gx, gy = self._grid.coords()
        self._static_h, self._static_label = _static_heights(gx, gy)
        self._person_h, self._person_label, self._person_weight = _person_heights(gx, gy)
        self._flat_blanket_h = _flat_blanket_heights(gx, gy, self._rng)
        self._camera_mm, self._rays = self._camera_rays()
        self._cache: OrderedDict[tuple, _Layers] = OrderedDict()
        default = self._layers(True, (0.0, 0.0, 0.0))
        self.labels: np.ndarray = default.labels
        self.chest_mask: np.ndarray = default.weight >= 0.5
        self.breathing_weight: np.ndarray = default.weight

    # --- geometry -----------------------------------------------------------------------------

    def _camera_rays(self) -> tuple[np.ndarray, np.ndarray]:
        """Camera centre in world mm and, per pixel, the world direction of a ray with unit
        camera-z component (so the ray parameter is the depth z)."""
        tilt = math.radians(self.tilt_deg)
        x_cam = np.array([-1.0, 0.0, 0.0])
        y_cam = np.array([0.0, math.cos(tilt), -math.sin(tilt)])
        z_cam = np.array([0.0, -math.sin(tilt), -math.cos(tilt)])
        centre = np.array(AIM_POINT_MM) - 1000.0 * self.distance_m * z_cam
        k = self.intrinsics
        u = (np.arange(k.width) - k.ppx) / k.fx
        v = (np.arange(k.height) - k.ppy) / k.fy
        xn, yn = np.meshgrid(u, v)
        rays = xn[..., None] * x_cam + yn[..., None] * y_cam + z_cam
        return centre, rays.reshape(-1, 3)

    def _heights_for(self, present: bool, pose_mm: tuple[float, float, float]):
        """World height field, labels and breathing weight for one presence/pose."""
        if present:
            dx, dy, dz = pose_mm
            shift = (dy / CELL_MM, dx / CELL_MM)
            if dx or dy:
                person_h = ndimage.shift(self._person_h, shift, order=1, cval=0.0)
                person_w = ndimage.shift(self._person_weight, shift, order=1, cval=0.0)
                person_label = ndimage.shift(self._person_label, shift, order=0, cval=FLOOR)
            else:
                person_h, person_w, person_label = self._person_h, self._person_weight, self._person_label
            person_h = np.where(person_h > 0, person_h + dz, 0.0)
        else:
            person_h, person_w, person_label = self._flat_blanket_h, np.zeros_like(self._flat_blanket_h), None
        on_top = person_h > self._static_h
        heights = np.where(on_top, person_h, self._static_h).astype(np.float32)
        weight = np.where(on_top, person_w, 0.0).astype(np.float32)
        if person_label is None:
            labels = np.where(on_top, LEGS, self._static_label).astype(np.uint8)
        else:
            labels = np.where(on_top, person_label, self._static_label).astype(np.uint8)
        return heights, labels, weight

    def _ray_cast(self, heights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Depth (mm along the camera axis) and flat grid index of the first surface hit per pixel."""
        grid = self._grid
        flat_h = heights.ravel()
        cx, cy, cz = self._camera_mm
        rx, ry, rz = (self._rays[:, i].astype(np.float64) for i in range(3))
        down = rz < -1e-6
        h_max = float(heights.max()) + 1.0
        t_top = np.where(down, (cz - h_max) / np.where(down, -rz, 1.0), 0.0)
        t_floor = np.where(down, cz / np.where(down, -rz, 1.0), np.inf)
        step_h_mm = 6.0
        n_steps = int(math.ceil(h_max / step_h_mm))
        dt = np.where(down, (t_floor - t_top) / n_steps, 0.0)

        def lookup(t, idx):
            px = cx + t * rx[idx]
            py = cy + t * ry[idx]
            ix = np.rint((px - grid.x0_mm) / CELL_MM).astype(np.int64)
            iy = np.rint((py - grid.y0_mm) / CELL_MM).astype(np.int64)
            inside = (ix >= 0) & (ix < grid.nx) & (iy >= 0) & (iy < grid.ny)
            cell = np.where(inside, iy * grid.nx + ix, 0)
            surface = np.where(inside, flat_h[cell], 0.0)
            return cz + t * rz[idx] <= surface, np.where(inside, cell, -1)

        hit_step = np.full(rx.shape, n_steps, np.int64)
        active = np.flatnonzero(down)
        for k in range(n_steps + 1):
            if active.size == 0:
                break
            below, _ = lookup(t_top[active] + k * dt[active], active)
            hit_step[active[below]] = k
            active = active[~below]

        # Bisect between the last step above the surface and the first one at or below it.
        idx = np.flatnonzero(down)
        hi = t_top[idx] + hit_step[idx] * dt[idx]
        lo = np.maximum(hi - dt[idx], t_top[idx])
        for _ in range(8):
            mid = 0.5 * (lo + hi)
            below, _ = lookup(mid, idx)
            hi = np.where(below, mid, hi)
            lo = np.where(below, lo, mid)
        _, cell = lookup(hi, idx)
        depth = np.zeros(rx.shape)
        cells = np.full(rx.shape, -1, np.int64)
        depth[idx] = hi
        cells[idx] = cell
        return depth, cells

    def _layers(self, present: bool, pose_mm: tuple[float, float, float]) -> _Layers:
        key = (present, *(round(float(p), 1) for p in pose_mm)) if present else (False,)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        heights, labels_grid, weight_grid = self._heights_for(present, pose_mm)
        depth, cells = self._ray_cast(heights)
        inside = cells >= 0
        labels = np.where(inside, labels_grid.ravel()[np.maximum(cells, 0)], FLOOR).astype(np.uint8)
        weight = np.where(inside, weight_grid.ravel()[np.maximum(cells, 0)], 0.0)
        shape = (self.intrinsics.height, self.intrinsics.width)
        depth_mm = depth.reshape(shape).astype(np.float32)
        layers = self._noise_layers(depth_mm, weight.reshape(shape).astype(np.float32), labels.reshape(shape))
        self._cache[key] = layers
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return layers

    def _noise_layers(self, depth_mm: np.ndarray, weight: np.ndarray, labels: np.ndarray) -> _Layers:
        z_m = depth_mm / 1000.0
        near = ndimage.minimum_filter(depth_mm, size=3, mode="nearest")
        far = ndimage.maximum_filter(depth_mm, size=3, mode="nearest")
        edge = (far - near) > EDGE_JUMP_MM
        if self.sensor is not None:
            sigma_mm = pixel_sigma_mm(depth_mm, self.intrinsics.fx, self.sensor.knobs.subpixel_px)
            p_invalid = self.sensor.invalid_probability(depth_mm, edge)
        else:
            sigma_mm = (NOISE_K_MM * z_m**2).astype(np.float32)
            # Stereo matching fails more often at discontinuities and on the distant, dim floor.
            p_invalid = 0.005 + 0.25 * edge + 0.08 * np.clip((z_m - 1.6) / 0.6, 0.0, 1.0)
            p_invalid[depth_mm <= 0] = 1.0
        edge_index = np.flatnonzero(edge)
        return _Layers(
            depth_mm=depth_mm,
            weight=weight,
            labels=labels,
            sigma_mm=sigma_mm,
            p_invalid=p_invalid.astype(np.float32),
            edge_index=edge_index,
            edge_near_mm=near.ravel()[edge_index],
            edge_far_mm=far.ravel()[edge_index],
        )

    # --- frames -------------------------------------------------------------------------------

    def clean_depth_mm(
        self, displacement_mm: float, *, present: bool = True, pose_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    ) -> np.ndarray:
        """Noise-free float32 depth in mm (0 where no surface)."""
        layers = self._layers(present, pose_mm)
        return layers.depth_mm - layers.weight * np.float32(displacement_mm)

    def drift_mm(self, t_s: float) -> float:
        return DRIFT_AMPLITUDE_MM * math.sin(2.0 * math.pi * t_s / DRIFT_PERIOD_S + self._drift_phase)

    def render(
        self,
        displacement_mm: float,
        *,
        present: bool = True,
        pose_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
        t_s: float = 0.0,
    ) -> np.ndarray:
        """Noisy uint16 depth in mm (0 = invalid). ``displacement_mm`` > 0 moves the chest toward the
        camera; ``pose_mm`` shifts the person by (x across the bed, y toward the feet, z up)."""
        layers = self._layers(present, pose_mm)
        rng = self._rng
        depth = layers.depth_mm - layers.weight * np.float32(displacement_mm)
        if self.sensor is not None:
            return self.sensor.corrupt(depth, layers.sigma_mm, t_s, 1000.0 * self.distance_m, layers.edge_index,
                                       layers.edge_near_mm, layers.edge_far_mm, layers.p_invalid)
        depth += rng.standard_normal(depth.shape, dtype=np.float32) * layers.sigma_mm
        depth += np.float32(self.drift_mm(t_s))
        flat = depth.reshape(-1)
        n_edges = layers.edge_index.size
        if n_edges:
            flying = rng.random(n_edges, dtype=np.float32) < FLYING_PIXEL_FRACTION
            mix = rng.random(int(flying.sum()), dtype=np.float32)
            near, far = layers.edge_near_mm[flying], layers.edge_far_mm[flying]
            flat[layers.edge_index[flying]] = near + mix * (far - near)
        depth[rng.random(depth.shape, dtype=np.float32) < layers.p_invalid] = 0.0
        np.clip(depth, 0.0, 65535.0, out=depth)
        return np.rint(depth).astype(np.uint16)
