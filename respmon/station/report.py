"""The one-page night report of a bed (`respmon report`, the station's report.png), from the
station's journal: the respiratory rate trend, the breathing state, the alarms and what the
operators did about them, and a few summary figures. A4 landscape, PNG (150 dpi) or PDF.

matplotlib is imported only here, when a report is asked for, and only through its object API
(no pyplot): the station renders in its journal worker thread.

Bounded whatever the journal holds: the trend (at most journal.TREND_LIMIT points) is drawn in
STATE_COLUMNS columns, the alarm table shows TABLE_ROWS rows.

A trend point covers the time until the next one, but at most its own length: a 1 s row a
second or so (the bed's publish times jitter), a 1 min row (compacted) its minute. Time no point
covers is missing data: never drawn as a line or counted as monitored.
"""

from __future__ import annotations

import io
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from respmon import __version__
from respmon.errors import UsageError
from respmon.station.journal import ALARMS_LIMIT, TREND_LIMIT, AlarmRecord, Journal

FORMATS = ("png", "pdf")
PAGE_IN = (11.69, 8.27)  # A4 landscape
PNG_DPI = 150
MARGIN_LEFT_IN, MARGIN_RIGHT_IN = 0.6, 0.35
TABLE_ROWS = 25
STATE_COLUMNS = 1500  # about one per pixel of the trend at 150 dpi
MINUTE_S = 60.0
SECOND_ROW_MAX_S = 2.5  # a 1 s row covers up to this: one late or lost message is no gap
RATE_FLOOR_TOP_BPM = 40.0

# The states a bed publishes (docs/messages.md, vitals `state`); any other ("starting", none) is
# "other". Colours: tracking green, apnea red like its (high) alarm, not watching greys.
STATES = ("breathing", "apnea", "motion", "searching", "absent", "lost", "other")
STATE_COLOURS = {"breathing": "#66bb6a", "apnea": "#c62828", "motion": "#ffa726", "searching": "#90a4ae",
                 "absent": "#cfd8dc", "lost": "#455a64", "other": "#b39ddb"}
TRACKING = ("breathing", "apnea")  # the patient is watched: what "monitored" counts
NO_DATA_COLOUR = "#ffffff"

# IEC 60601-1-8 alarm colours
PRIORITIES = ("high", "medium", "low")
PRIORITY_COLOURS = {"high": "#e53935", "medium": "#fdd835", "low": "#26c6da"}
PRIORITY_TEXT = {"high": "white", "medium": "black", "low": "black"}
UNKNOWN_PRIORITY_COLOUR = "#9e9e9e"

VERDICT_TEXT = {"confirmed": "confirmed", "false_alarm": "false alarm", "other_pattern": "other pattern"}
INK, MUTED, RULE = "#212121", "#616161", "#e0e0e0"

_RC = {"text.usetex": False, "font.family": "DejaVu Sans", "font.size": 8, "axes.linewidth": 0.6,
       "axes.edgecolor": "#757575", "xtick.labelsize": 7.5, "ytick.labelsize": 7.5, "xtick.color": MUTED,
       "ytick.color": MUTED, "path.simplify": True, "pdf.compression": 9, "hatch.linewidth": 0.6}


@dataclass
class Trend:
    """The journal's trend points as arrays; `cover_s`: how long each one holds."""
    t_wall: np.ndarray
    cover_s: np.ndarray
    rr_bpm: np.ndarray  # nan where no rate
    state: np.ndarray  # index into STATES
    truncated: bool  # the journal gave its limit: the earliest part is missing
    minute_rows_until: float | None  # the end of the last compacted (1 min) row


@dataclass
class Summary:
    span_s: float  # the period the figures are of (shortened to the trend when truncated)
    state_s: dict  # seconds per state, and "no data"
    monitored_fraction: float | None
    median_bpm: float | None
    p10_bpm: float | None
    p90_bpm: float | None
    alarms_by_priority: dict
    alarms_capped: bool
    apneas: int
    longest_apnea_s: float | None


def render_report(journal: Journal, bed: str, since_wall: float, until_wall: float, fmt: str,
                  generated_wall: float | None = None) -> bytes:
    """The one-page report of `bed` over [since_wall, until_wall] as PNG or PDF bytes; a bed or
    period without data gives a page that says so."""
    if fmt not in FORMATS:
        raise UsageError(f"a report is png or pdf, not {str(fmt)[:20]!r}")
    mpl = _matplotlib()
    with mpl.rc_context():
        mpl.rcdefaults()  # not the user's matplotlibrc: the same page everywhere
        mpl.rcParams.update(_RC)
        fig = report_figure(journal, bed, since_wall, until_wall, generated_wall)
        metadata = {"Title": f"respmon night report, {_clean(bed, 64)}", "Creator": f"respmon {__version__}"}
        if fmt == "pdf":
            metadata["CreationDate"] = None  # the same journal gives the same file
        out = io.BytesIO()
        fig.savefig(out, format=fmt, dpi=PNG_DPI, metadata=metadata)
    return out.getvalue()


def report_figure(journal: Journal, bed: str, since_wall: float, until_wall: float,
                  generated_wall: float | None = None):
    """The report's matplotlib Figure (render_report draws it with its own settings)."""
    if not (math.isfinite(since_wall) and math.isfinite(until_wall) and since_wall < until_wall):
        raise UsageError("a report's period must end after it starts")
    mpl = _matplotlib()
    from dateutil import tz as dateutil_tz

    trend = build_trend(journal.trend(bed, since_wall, until_wall))
    alarms = journal.alarms(bed, since_wall, until_wall)
    summary = summarize(trend, alarms, since_wall, until_wall)
    generated = time.time() if generated_wall is None else generated_wall
    page = _Page(mpl, dateutil_tz.tzlocal(), since_wall, until_wall)
    return page.draw(bed, trend, alarms, summary, generated)


def _matplotlib():
    try:
        import matplotlib
        import matplotlib.backends.backend_agg  # noqa: F401  (the submodules _Page uses)
        import matplotlib.dates  # noqa: F401
        import matplotlib.figure  # noqa: F401
        import matplotlib.patches  # noqa: F401
    except ImportError:
        raise UsageError("the report needs matplotlib: pip install 'respmon[plot]'") from None
    return matplotlib


# -- the figures ---------------------------------------------------------------------------------------------
def build_trend(points: list) -> Trend:
    n = len(points)
    t = np.array([p[0] for p in points], dtype=float)
    rr = np.array([np.nan if p[1] is None else p[1] for p in points], dtype=float)
    index = {name: i for i, name in enumerate(STATES)}
    state = np.array([index.get(p[2], index["other"]) for p in points], dtype=int)
    # A compacted row starts on a minute, with no point within the minute before or after it.
    to_next = np.append(np.diff(t), np.inf) if n else np.zeros(0)
    from_last = np.append(np.inf, np.diff(t)) if n else np.zeros(0)
    minute_row = (np.mod(t, MINUTE_S) == 0) & (to_next >= MINUTE_S - 1e-6) & (from_last >= MINUTE_S - 1e-6)
    cover = np.minimum(to_next, np.where(minute_row, MINUTE_S, SECOND_ROW_MAX_S))
    last_minute = np.flatnonzero(minute_row)
    minute_rows_until = float(t[last_minute[-1]] + MINUTE_S) if last_minute.size else None
    return Trend(t, cover, rr, state, n >= TREND_LIMIT, minute_rows_until)


def summarize(trend: Trend, alarms: list[AlarmRecord], since_wall: float, until_wall: float) -> Summary:
    start = max(since_wall, float(trend.t_wall[0])) if trend.truncated else since_wall
    span_s = until_wall - start
    cover = _clip_cover(trend, start, until_wall)
    state_s = {name: float(cover[trend.state == i].sum()) for i, name in enumerate(STATES)}
    state_s["no data"] = max(0.0, span_s - sum(state_s.values()))
    tracked_s = sum(state_s[name] for name in TRACKING)
    rated = np.isfinite(trend.rr_bpm) & (cover > 0)
    p10, median, p90 = _weighted_quantiles(trend.rr_bpm[rated], cover[rated], (0.1, 0.5, 0.9))
    by_priority = {p: 0 for p in PRIORITIES}
    for alarm in alarms:
        if alarm.priority in by_priority:
            by_priority[alarm.priority] += 1
    apneas = _runs(trend, STATES.index("apnea"))
    return Summary(span_s, state_s, tracked_s / span_s if trend.t_wall.size else None, median, p10, p90,
                   by_priority, len(alarms) >= ALARMS_LIMIT, len(apneas), max(apneas, default=None))


def _clip_cover(trend: Trend, start: float, end: float):
    """Each point's covered seconds within [start, end]."""
    lo = np.maximum(trend.t_wall, start)
    hi = np.minimum(trend.t_wall + trend.cover_s, end)
    return np.clip(hi - lo, 0.0, None)


def _weighted_quantiles(values, weights, qs) -> tuple:
    if values.size == 0 or weights.sum() <= 0:
        return tuple(None for _ in qs)
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return tuple(float(values[order][min(np.searchsorted(cumulative, q * cumulative[-1]), values.size - 1)])
                 for q in qs)


def _runs(trend: Trend, state: int) -> list[float]:
    """The lengths (s) of the spans the trend holds `state` without a break."""
    runs: list[float] = []
    run_end = None
    for t, cover, s in zip(trend.t_wall.tolist(), trend.cover_s.tolist(), trend.state.tolist()):
        if s != state:
            run_end = None
            continue
        if run_end is not None and t <= run_end + 1e-6:
            runs[-1] += cover
        else:
            runs.append(cover)
        run_end = t + cover
    return runs


def columns(trend: Trend, since_wall: float, until_wall: float) -> dict:
    """The trend in page columns: per column the time-weighted mean rate, its min and max (nan
    where no rate), and the state (apnea wherever there was any, else the one that lasted
    longest; -1 where no data)."""
    n_columns = int(max(1, min(STATE_COLUMNS, math.ceil(until_wall - since_wall))))
    width_s = (until_wall - since_wall) / n_columns
    start, end = trend.t_wall, trend.t_wall + trend.cover_s
    first = np.floor((start - since_wall) / width_s).astype(int)
    state_s = np.zeros((n_columns, len(STATES)))
    rate_sum, rate_s = np.zeros(n_columns), np.zeros(n_columns)
    low, high = np.full(n_columns, np.inf), np.full(n_columns, -np.inf)
    has_rate = np.isfinite(trend.rr_bpm)
    spread = int(math.ceil(MINUTE_S / width_s)) + 1  # columns a point can reach
    for k in range(spread):
        column = first + k
        column_start = since_wall + column * width_s
        overlap = np.minimum(end, column_start + width_s) - np.maximum(start, column_start)
        inside = (column >= 0) & (column < n_columns) & (overlap > 0)
        np.add.at(state_s, (column[inside], trend.state[inside]), overlap[inside])
        rated = inside & has_rate
        np.add.at(rate_sum, column[rated], trend.rr_bpm[rated] * overlap[rated])
        np.add.at(rate_s, column[rated], overlap[rated])
        np.minimum.at(low, column[rated], trend.rr_bpm[rated])
        np.maximum.at(high, column[rated], trend.rr_bpm[rated])
    state = np.where(state_s.sum(axis=1) > 0, state_s.argmax(axis=1), -1)
    state[state_s[:, STATES.index("apnea")] > 0] = STATES.index("apnea")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(rate_s > 0, rate_sum / rate_s, np.nan)
    return {"x_wall": since_wall + (np.arange(n_columns) + 0.5) * width_s, "width_s": width_s,
            "mean": mean, "low": np.where(rate_s > 0, low, np.nan), "high": np.where(rate_s > 0, high, np.nan),
            "state": state}


# -- text ----------------------------------------------------------------------------------------------------
def _clean(text: object, limit: int) -> str:
    """Journal text fit for one line of the page: whitespace and control characters collapsed,
    cut to `limit` characters with an ellipsis."""
    line = re.sub(r"[\s\x00-\x1f\x7f-\x9f]+", " ", str(text)).strip()
    return line if len(line) <= limit else line[:max(1, limit - 1)].rstrip() + "…"


def duration_text(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _range_text(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}–{last}"


def _label_pt(text: str, size_pt: float) -> float:
    """About how wide `text` (digits, dashes) is in DejaVu Sans."""
    return 0.64 * size_pt * len(text)


def percent_text(fraction: float) -> str:
    """0 % only for nothing at all: a short apnea is not rounded away."""
    if 0 < fraction < 0.005:
        return "<1 %"
    if 0.995 <= fraction < 1:
        return ">99 %"
    return f"{100 * fraction:.0f} %"


def utc_offset(moment: datetime) -> str:
    offset = moment.strftime("%z") or "+0000"
    return f"UTC{offset[:3]}:{offset[3:]}"


def _condition_text(alarm: AlarmRecord) -> str:
    text = _clean(alarm.condition or "unknown", 28).replace("_", " ")
    return text + (" · technical" if alarm.kind == "technical" else "")


def _verdict_text(verdict: dict | None, limit: int) -> str:
    if not verdict:
        return "–"
    name = VERDICT_TEXT.get(verdict.get("verdict"), _clean(verdict.get("verdict") or "?", 20))
    if verdict.get("pattern"):
        name += f": {_clean(verdict['pattern'], 20).replace('_', ' ')}"
    if verdict.get("operator"):
        name += f" ({_clean(verdict['operator'], 16)})"
    note = _clean(verdict.get("note") or "", limit)
    return _clean(f"{name} — {note}" if note else name, limit)


# -- the page ------------------------------------------------------------------------------------------------
class _Page:
    """Lays the report out on an A4 landscape figure, in inches from the top left."""

    def __init__(self, mpl, tz, since_wall: float, until_wall: float):
        self.mpl, self.tz = mpl, tz
        self.since_wall, self.until_wall = since_wall, until_wall
        self.fig = mpl.figure.Figure(figsize=PAGE_IN)
        mpl.backends.backend_agg.FigureCanvasAgg(self.fig)
        self.width_in = PAGE_IN[0] - MARGIN_LEFT_IN - MARGIN_RIGHT_IN
        self.multi_day = self._local(since_wall).date() != self._local(until_wall).date()
        self.x_epoch = float(mpl.dates.date2num(datetime.fromtimestamp(0, timezone.utc)))

    def _local(self, wall: float) -> datetime:
        return datetime.fromtimestamp(wall, self.tz)

    def _clock(self, wall: float, seconds: bool = True) -> str:
        pattern = "%H:%M:%S" if seconds else "%H:%M"
        return self._local(wall).strftime(("%a " if self.multi_day else "") + pattern)

    def _axes(self, left_in: float, top_in: float, width_in: float, height_in: float, **kwargs):
        w, h = PAGE_IN
        return self.fig.add_axes((left_in / w, 1 - (top_in + height_in) / h, width_in / w, height_in / h), **kwargs)

    def _text(self, left_in: float, top_in: float, text: str, **kwargs):
        w, h = PAGE_IN
        kwargs.setdefault("va", "top")
        kwargs.setdefault("color", INK)
        return self.fig.text(left_in / w, 1 - top_in / h, text, parse_math=False, **kwargs)

    def draw(self, bed: str, trend: Trend, alarms: list[AlarmRecord], summary: Summary, generated_wall: float):
        self._header(bed, generated_wall)
        self._cards(summary, bool(trend.t_wall.size), alarms, trend.minute_rows_until)
        self._trend(trend, alarms)
        self._legend(summary)
        self._table(alarms)
        self._footer(trend)
        return self.fig

    def _header(self, bed: str, generated_wall: float) -> None:
        start, end = self._local(self.since_wall), self._local(self.until_wall)
        offsets = utc_offset(start) if utc_offset(start) == utc_offset(end) \
            else f"{utc_offset(start)} → {utc_offset(end)}"
        zone = start.tzname() or ""
        self._text(MARGIN_LEFT_IN, 0.3, f"Night report · {_clean(bed, 64)}", fontsize=15, weight="bold")
        zone = f" {zone}" if zone and not zone.startswith(("+", "-")) else ""  # a name, not "+03"
        period = (f"{start:%a %d %b %Y %H:%M} → {end:%a %d %b %Y %H:%M}   "
                  f"({duration_text(self.until_wall - self.since_wall)}, local time{zone}, {offsets})")
        self._text(MARGIN_LEFT_IN, 0.64, period, fontsize=9.5, color=INK)
        generated = self._local(generated_wall)
        self._text(PAGE_IN[0] - MARGIN_RIGHT_IN, 0.32,
                   f"generated {generated:%a %d %b %Y %H:%M:%S} ({utc_offset(generated)})\nrespmon {__version__}",
                   fontsize=7.5, color=MUTED, ha="right", linespacing=1.5)

    def _cards(self, summary: Summary, has_trend: bool, alarms: list[AlarmRecord],
               minute_rows_until: float | None) -> None:
        counts = summary.alarms_by_priority
        plus = "+" if summary.alarms_capped else ""
        if has_trend and summary.monitored_fraction is not None:
            monitored = (percent_text(summary.monitored_fraction),
                         f"of {duration_text(summary.span_s)} in the breathing or apnea state")
        else:
            monitored = ("–", "no vitals")
        if summary.median_bpm is not None:
            rate = (f"{summary.median_bpm:.1f} bpm",
                    f"median · 10–90 %: {summary.p10_bpm:.1f}–{summary.p90_bpm:.1f} bpm")
        else:
            rate = ("–", "no rate measured")
        alarms_card = (f"{len(alarms)}{plus}",
                       " · ".join(f"{counts[p]} {p}" for p in PRIORITIES)
                       + (f" · {len(alarms) - sum(counts.values())} other" if len(alarms) > sum(counts.values())
                          else ""))
        longest = f"longest {duration_text(summary.longest_apnea_s or 0)}"
        if minute_rows_until is not None and minute_rows_until > self.since_wall:
            # A minute mean holds the minute's most frequent state: short apneas are not in it.
            seconds_from = f"1 s states from {self._local(minute_rows_until):%H:%M}"
            apnea = (str(summary.apneas), f"{longest} · {seconds_from}" if summary.apneas else seconds_from)
        elif summary.apneas:
            apnea = (str(summary.apneas), f"{longest} in the apnea state")
        else:
            apnea = ("0" if has_trend else "–", "no apnea state" if has_trend else "no vitals")
        cards = (("monitored", monitored), ("respiratory rate", rate), ("alarms", alarms_card), ("apneas", apnea))
        gap_in = 0.15
        width_in = (self.width_in - gap_in * (len(cards) - 1)) / len(cards)
        for i, (title, (big, small)) in enumerate(cards):
            ax = self._axes(MARGIN_LEFT_IN + i * (width_in + gap_in), 0.92, width_in, 0.62)
            ax.set_axis_off()
            ax.add_patch(self.mpl.patches.FancyBboxPatch((0, 0), 1, 1, boxstyle="round,pad=0,rounding_size=0.06",
                                                         transform=ax.transAxes, facecolor="#f5f5f5",
                                                         edgecolor=RULE, linewidth=0.6))
            ax.text(0.04, 0.8, title.upper(), transform=ax.transAxes, fontsize=6.5, color=MUTED, weight="bold",
                    va="center", parse_math=False)
            ax.text(0.04, 0.47, big, transform=ax.transAxes, fontsize=14, weight="bold", color=INK, va="center",
                    parse_math=False)
            ax.text(0.04, 0.16, small, transform=ax.transAxes, fontsize=7, color=MUTED, va="center",
                    parse_math=False, clip_on=True)

    # trend and state band
    def _x(self, wall):
        """Epoch seconds as matplotlib dates (days since its epoch)."""
        return self.x_epoch + np.asarray(wall, dtype=float) / 86400.0

    def _trend(self, trend: Trend, alarms: list[AlarmRecord]) -> None:
        ax = self._axes(MARGIN_LEFT_IN, 1.78, self.width_in, 2.05)
        band = self._axes(MARGIN_LEFT_IN, 3.87, self.width_in, 0.2, sharex=ax)
        cols = columns(trend, self.since_wall, self.until_wall)
        x = self._x(cols["x_wall"])
        top = RATE_FLOOR_TOP_BPM
        if np.isfinite(cols["high"]).any():
            top = max(top, min(120.0, 5 * math.ceil((np.nanmax(cols["high"]) + 2) / 5)))
        self._alarm_spans(ax, alarms)
        ax.fill_between(x, cols["low"], cols["high"], color="#90caf9", alpha=0.55, linewidth=0)
        ax.plot(x, cols["mean"], color="#0d47a1", linewidth=1.0)
        lone = np.isfinite(cols["mean"]) & ~np.isfinite(np.roll(cols["mean"], 1)) \
            & ~np.isfinite(np.roll(cols["mean"], -1))
        ax.plot(x[lone], cols["mean"][lone], linestyle="none", marker="o", markersize=1.5, color="#0d47a1")
        ax.set_ylim(0, top)
        ax.set_xlim(self._x(self.since_wall), self._x(self.until_wall))
        ax.set_ylabel("respiratory rate (bpm)", fontsize=8, color=INK)
        ax.grid(True, color=RULE, linewidth=0.5)
        ax.set_axisbelow(True)
        ax.tick_params(labelbottom=False, length=2)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if not trend.t_wall.size:
            ax.text(0.5, 0.5, "no vitals in this period" if alarms else "no data in this period",
                    transform=ax.transAxes, ha="center", va="center", fontsize=16, color=MUTED, parse_math=False)
        self._state_band(band, cols)
        self._time_axis(band)

    def _alarm_spans(self, ax, alarms: list[AlarmRecord]) -> None:
        min_width_s = (self.until_wall - self.since_wall) / STATE_COLUMNS
        spans: dict[tuple, list] = {}
        for alarm in alarms:
            start = max(alarm.onset_wall, self.since_wall)
            end = min(alarm.cleared_wall if alarm.cleared_wall is not None else self.until_wall, self.until_wall)
            key = (alarm.priority if alarm.priority in PRIORITIES else None, alarm.kind == "technical")
            spans.setdefault(key, []).append((float(self._x(start)), max(end - start, min_width_s) / 86400.0))
        for (priority, technical), ranges in spans.items():
            colour = PRIORITY_COLOURS.get(priority, UNKNOWN_PRIORITY_COLOUR)
            ax.broken_barh(ranges, (0, 1), transform=ax.get_xaxis_transform(), facecolor=colour,
                           alpha=0.28 if not technical else 0.18, edgecolor="none",
                           hatch="////" if technical else None)
        onsets = [(a.onset_wall, a.priority) for a in alarms if a.onset_wall >= self.since_wall]
        for priority in (None, *reversed(PRIORITIES)):  # high drawn last, on top
            xs = [self._x(t) for t, p in onsets if (p if p in PRIORITIES else None) == priority]
            if xs:
                ax.plot(xs, [1.0] * len(xs), transform=ax.get_xaxis_transform(), linestyle="none", marker="v",
                        markersize=6, markerfacecolor=PRIORITY_COLOURS.get(priority, UNKNOWN_PRIORITY_COLOUR),
                        markeredgecolor=INK, markeredgewidth=0.5, clip_on=False, zorder=5)
        self._alarm_numbers(ax, alarms)

    def _alarm_numbers(self, ax, alarms: list[AlarmRecord]) -> None:
        """The table's row numbers over the onset markers; onsets too close to tell apart share
        one label (3–5)."""
        size_pt = 6.5
        seconds_per_pt = (self.until_wall - self.since_wall) / (self.width_in * 72)
        groups: list[list] = []  # [first number, last number, onset of the first]
        for number, alarm in enumerate(alarms[:TABLE_ROWS], start=1):
            if alarm.onset_wall < self.since_wall:
                continue
            # Labels start half a digit left of their marker and grow to the right.
            if groups and (alarm.onset_wall - groups[-1][2]) / seconds_per_pt < \
                    _label_pt(_range_text(*groups[-1][:2]), size_pt) + size_pt:
                groups[-1][1] = number
            else:
                groups.append([number, number, alarm.onset_wall])
        for first, last, onset_wall in groups:
            ax.annotate(_range_text(first, last), xy=(float(self._x(onset_wall)), 1.0),
                        xycoords=ax.get_xaxis_transform(), xytext=(-0.3 * size_pt, 8), textcoords="offset points",
                        ha="left", va="bottom", fontsize=size_pt, color=INK, annotation_clip=False,
                        parse_math=False)

    def _state_band(self, band, cols: dict) -> None:
        state = cols["state"]
        x0 = self._x(self.since_wall)
        width = cols["width_s"] / 86400.0
        edges = np.flatnonzero(np.diff(state)) + 1
        starts = np.concatenate(([0], edges))
        ends = np.concatenate((edges, [state.size]))
        runs: dict[int, list] = {}
        for a, b in zip(starts.tolist(), ends.tolist()):
            runs.setdefault(int(state[a]), []).append((x0 + a * width, (b - a) * width))
        for index, ranges in runs.items():
            if index >= 0:
                band.broken_barh(ranges, (0, 1), facecolor=STATE_COLOURS[STATES[index]], edgecolor="none")
        band.set_ylim(0, 1)
        band.set_yticks([])
        band.set_ylabel("state", rotation=0, ha="right", va="center", fontsize=7.5, color=INK)

    def _time_axis(self, ax) -> None:
        dates = self.mpl.dates
        span_h = (self.until_wall - self.since_wall) / 3600
        locator = dates.AutoDateLocator(tz=self.tz, minticks=5, maxticks=14)
        fmt = "%H:%M" if span_h <= 24 else "%a %H:%M" if span_h <= 96 else "%a %d %b"
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(dates.DateFormatter(fmt, tz=self.tz))
        ax.tick_params(axis="x", length=2, pad=2)

    def _legend(self, summary: Summary) -> None:
        patches = self.mpl.patches
        span = summary.span_s or 1.0
        handles = []
        for name in STATES:
            share = summary.state_s.get(name, 0.0) / span
            if share > 0 or name in TRACKING:
                handles.append(patches.Patch(facecolor=STATE_COLOURS[name], label=f"{name} {percent_text(share)}"))
        handles.append(patches.Patch(facecolor=NO_DATA_COLOUR, edgecolor="#9e9e9e", linewidth=0.5,
                                     label=f"no data {percent_text(summary.state_s.get('no data', 0.0) / span)}"))
        handles.append(patches.Patch(facecolor="none", edgecolor="none", label="   alarms:"))
        for priority in PRIORITIES:
            handles.append(patches.Patch(facecolor=PRIORITY_COLOURS[priority], alpha=0.6, label=priority))
        handles.append(patches.Patch(facecolor="white", edgecolor="#757575", hatch="////", linewidth=0.5,
                                     label="technical"))
        w, h = PAGE_IN
        self.fig.legend(handles=handles, loc="center", bbox_to_anchor=(0.5, 1 - 4.42 / h), ncol=len(handles),
                        fontsize=7, frameon=False, handlelength=1.4, handleheight=0.9, columnspacing=1.2,
                        handletextpad=0.5)

    # alarm table
    TABLE_COLUMNS = (("#", 0.025), ("onset", 0.085), ("duration", 0.1), ("condition", 0.165),
                     ("priority", 0.055), ("acknowledged (first)", 0.18), ("verdict · note", 0.39))

    def _table(self, alarms: list[AlarmRecord]) -> None:
        top_in, rows = 4.72, TABLE_ROWS + 2  # header, the rows, "and N more"
        row_in = (7.98 - top_in) / rows
        title = f"Alarms ({len(alarms)}{'+' if len(alarms) >= ALARMS_LIMIT else ''})"
        self._text(MARGIN_LEFT_IN, 4.6, title, fontsize=9, weight="bold")
        ax = self._axes(MARGIN_LEFT_IN, top_in, self.width_in, row_in * rows)
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(rows, 0)
        if not alarms:
            ax.text(0.0, 0.5, "no alarms in this period", fontsize=8, color=MUTED, va="center", parse_math=False)
            return
        lefts = np.cumsum([0.0] + [w for _, w in self.TABLE_COLUMNS])
        ax.add_patch(self.mpl.patches.Rectangle((0, 0), 1, 1, facecolor="#eeeeee", edgecolor="none"))
        for (name, _), left in zip(self.TABLE_COLUMNS, lefts):
            ax.text(left + 0.004, 0.5, name, fontsize=7, weight="bold", va="center", color=INK, parse_math=False)
        chars = [max(4, int(w * self.width_in * 17)) for _, w in self.TABLE_COLUMNS]  # ~17 characters an inch at 7 pt
        for row, alarm in enumerate(alarms[:TABLE_ROWS], start=1):
            self._table_row(ax, row, alarm, lefts, chars)
        if len(alarms) > TABLE_ROWS:
            ax.text(0.004, TABLE_ROWS + 1.5, f"and {len(alarms) - TABLE_ROWS} more", fontsize=7, color=MUTED,
                    va="center", style="italic", parse_math=False)

    def _table_row(self, ax, row: int, alarm: AlarmRecord, lefts, chars: list[int]) -> None:
        y = row + 0.5
        if row % 2 == 0:
            ax.add_patch(self.mpl.patches.Rectangle((0, row), 1, 1, facecolor="#fafafa", edgecolor="none"))
        ax.axhline(row + 1, color=RULE, linewidth=0.4)
        if alarm.cleared_wall is not None:
            duration = duration_text(alarm.cleared_wall - alarm.onset_wall)
        else:
            duration = f"on for {duration_text(self.until_wall - alarm.onset_wall)}"
        cells = [str(row), self._clock(alarm.onset_wall), duration, _condition_text(alarm), None,
                 self._ack_text(alarm), _verdict_text(alarm.verdict, chars[6])]
        for i, (text, left) in enumerate(zip(cells, lefts)):
            if text is not None:
                ax.text(left + 0.004, y, _clean(text, chars[i]), fontsize=7, va="center", color=INK,
                        parse_math=False)
        priority = alarm.priority if alarm.priority in PRIORITIES else None
        ax.text(lefts[4] + 0.004, y, _clean(alarm.priority or "?", 8), fontsize=6.5, va="center",
                color=PRIORITY_TEXT.get(priority, "white"), weight="bold", parse_math=False,
                bbox={"boxstyle": "round,pad=0.18", "edgecolor": "none",
                      "facecolor": PRIORITY_COLOURS.get(priority, UNKNOWN_PRIORITY_COLOUR)})

    def _ack_text(self, alarm: AlarmRecord) -> str:
        if not alarm.acknowledgements:
            return "–"
        operator, at_wall = alarm.acknowledgements[0]
        text = f"{_clean(operator or '?', 14)} {self._local(at_wall):%H:%M:%S}"
        if at_wall >= alarm.onset_wall:
            text += f" (+{duration_text(at_wall - alarm.onset_wall)})"
        if len(alarm.acknowledgements) > 1:
            text += f", {len(alarm.acknowledgements) - 1} more"
        return text

    def _footer(self, trend: Trend) -> None:
        notes = ["rate: mean per column of the page (line) and its range (band); gaps: no rate"]
        if trend.minute_rows_until is not None and trend.minute_rows_until > self.since_wall:
            notes.append(f"1 min means until {self._clock(trend.minute_rows_until, seconds=False)}")
        if trend.truncated:
            notes.append(f"trend limited to the latest {TREND_LIMIT:,} points, "
                         f"from {self._clock(float(trend.t_wall[0]), seconds=False)}")
        notes.append("times local")
        self._text(MARGIN_LEFT_IN, 8.06, " · ".join(notes), fontsize=6.5, color=MUTED)
