"""Plots for people: matplotlib is imported only here, and only when a plot is asked for."""

from __future__ import annotations

from pathlib import Path

from respmon.errors import UsageError


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'respmon[plot]'") from None
    return plt


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    try:
        fig.savefig(path, dpi=90)
    except OSError as exc:
        raise UsageError(f"--plot: cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


def plot_history(path: Path, history, title: str) -> None:
    """Training loss and accuracies per epoch."""
    plt = _pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    epochs = range(1, len(history.loss) + 1)
    ax_loss.plot(epochs, history.loss, ".-")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss")
    ax_acc.plot(epochs, history.train_accuracy, ".-", label="training")
    if history.val_accuracy:
        ax_acc.plot(epochs, history.val_accuracy, ".-", label="validation")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.legend()
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def plot_confusion(path: Path, reports: dict) -> None:
    """One confusion matrix per evaluated set, rows true, columns predicted."""
    import numpy as np

    from respmon.patterns import PATTERNS

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(reports), figsize=(6 * len(reports), 5.5), squeeze=False)
    for ax, (name, report) in zip(axes[0], reports.items()):
        cm = np.asarray(report["confusion"])
        ax.imshow(cm, cmap="Blues")
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
        ax.set_xticks(range(len(PATTERNS)), PATTERNS, rotation=45, ha="right")
        ax.set_yticks(range(len(PATTERNS)), PATTERNS)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{name}: accuracy {report['accuracy']:.3f}")
    fig.tight_layout()
    _save(fig, path)


def plot_replay(path: Path, signal: list[tuple[float, float]], windows: list[dict], title: str) -> None:
    """Breathing signal, rate and quality over time, one panel each, sharing the time axis."""
    plt = _pyplot()
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
    _save(fig, path)
