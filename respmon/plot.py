"""Plots for people: matplotlib is imported only here, and only when a plot is asked for."""

from __future__ import annotations

from pathlib import Path

from respmon.errors import UsageError


def plot_replay(path: Path, signal: list[tuple[float, float]], windows: list[dict], title: str) -> None:
    """Breathing signal, rate and quality over time, one panel each, sharing the time axis."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'respmon[plot]'") from None
    fig, (ax_signal, ax_rate, ax_quality) = plt.subplots(3, 1, sharex=True, figsize=(11, 7))
    if signal:
        t, v = zip(*signal)
        ax_signal.plot(t, v, lw=0.8)
    ax_signal.set_ylabel("chest displacement")
    ax_signal.set_title(title)
    t_w = [w["t"] for w in windows]
    ax_rate.plot(t_w, [w["rr_bpm"] if w["rr_bpm"] is not None else float("nan") for w in windows], ".-", ms=3)
    ax_rate.set_ylabel("rate (bpm)")
    for state, colour in (("apnea", "tab:red"), ("motion", "tab:orange"), ("absent", "tab:gray")):
        for w in windows:
            if w.get("state") == state:
                ax_rate.axvspan(w["t"] - 0.5, w["t"] + 0.5, color=colour, alpha=0.2, lw=0)
    ax_quality.plot(t_w, [w["quality"] for w in windows], ".-", ms=3, color="tab:green")
    ax_quality.set_ylim(-0.05, 1.05)
    ax_quality.set_ylabel("quality")
    ax_quality.set_xlabel("time (s)")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=90)
    except OSError as exc:
        raise UsageError(f"--plot: cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
