"""The one-page night report (respmon/station/report.py) and `respmon report`, from journals
filled with the synthetic night of bench/make_report_example.py."""

from __future__ import annotations

import io
import math
import re
import sys
import time
from datetime import datetime

import numpy as np
import pytest

from respmon.cli import main
from respmon.errors import UsageError
from respmon.station import report
from respmon.station.journal import TREND_LIMIT, open_journal
from tests.bench_modules import load_bench

example = load_bench("make_report_example")

END = 1_800_000_000.0  # a minute start
START = END - example.NIGHT_S
BED = "bed-3"
A4_LANDSCAPE = 297 / 210


def _journal(folder, keep_1s_s: float):
    journal = open_journal(f"sqlite:///{folder / 'station.db'}")
    example.fill_night(journal, BED, END, keep_1s_s=keep_1s_s)
    return journal


@pytest.fixture(scope="module")
def compacted(tmp_path_factory):
    """The night with 1 s vitals for its last hour, 1 min means before."""
    journal = _journal(tmp_path_factory.mktemp("compacted"), keep_1s_s=3600)
    yield journal
    journal.close()


@pytest.fixture(scope="module")
def seconds(tmp_path_factory):
    """The night with 1 s vitals throughout (the station keeps them 24 h)."""
    journal = _journal(tmp_path_factory.mktemp("seconds"), keep_1s_s=24 * 3600)
    yield journal
    journal.close()


def _texts(figure) -> list[str]:
    from matplotlib.text import Text

    return [t.get_text() for t in figure.findobj(Text) if t.get_text()]


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf))


def _png_shape(png: bytes) -> tuple[int, int]:
    import matplotlib.image

    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    return image.shape[1], image.shape[0]


def _assert_a4_png(png: bytes) -> None:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = _png_shape(png)
    assert width / height == pytest.approx(A4_LANDSCAPE, rel=0.005)
    assert width == pytest.approx(11.69 * report.PNG_DPI, abs=2)


def _assert_one_page_pdf(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF")
    assert _pages(pdf) == 1


# -- the figures ---------------------------------------------------------------------------------------------
def test_the_fixture_night_has_minute_means_then_seconds(compacted):
    points = compacted.trend(BED, START, END)
    fold = END - 3600
    before = [t for t, _, _ in points if t < fold]
    after = [t for t, _, _ in points if t >= fold]
    assert before and all(t % 60 == 0 for t in before) and np.all(np.diff(before) >= 60)
    assert len(after) == pytest.approx(3600, abs=2)
    trend = report.build_trend(points)
    assert trend.minute_rows_until == fold
    assert not trend.truncated


def test_summary_figures_of_a_night_of_seconds(seconds):
    rows = example.vitals_rows(BED, START)
    trend = report.build_trend(seconds.trend(BED, START, END))
    summary = report.summarize(trend, seconds.alarms(BED, START, END), START, END)
    tracked = sum(state in ("breathing", "apnea") for _, _, _, state, _ in rows)
    assert summary.monitored_fraction == pytest.approx(tracked / example.NIGHT_S, abs=0.005)
    rates = np.array([rr for _, _, rr, _, _ in rows if rr is not None])
    assert summary.median_bpm == pytest.approx(np.median(rates), abs=0.2)
    assert summary.p10_bpm == pytest.approx(np.percentile(rates, 10), abs=0.2)
    assert summary.p90_bpm == pytest.approx(np.percentile(rates, 90), abs=0.2)
    assert summary.alarms_by_priority == {"high": 4, "medium": 3, "low": 2}
    assert summary.apneas == len(example.APNEAS)
    assert summary.longest_apnea_s == pytest.approx(max(length for _, length in example.APNEAS) - 10, abs=0.5)
    silent_s = example.SILENT[1] - example.SILENT[0]
    assert summary.state_s["no data"] == pytest.approx(silent_s, abs=3)
    assert sum(summary.state_s.values()) == pytest.approx(example.NIGHT_S)


def test_the_trend_is_never_drawn_across_missing_data(seconds, compacted):
    for journal in (seconds, compacted):
        trend = report.build_trend(journal.trend(BED, START, END))
        cols = report.columns(trend, START, END)
        width_s = cols["width_s"]
        silent = (cols["x_wall"] - width_s / 2 >= START + example.SILENT[0]) & \
            (cols["x_wall"] + width_s / 2 <= START + example.SILENT[1])
        assert silent.sum() >= 25
        assert np.isnan(cols["mean"][silent]).all() and (cols["state"][silent] == -1).all()
        # and nowhere else is there a hole: 1 min means join up, so do 1 s rows
        breathing = (cols["x_wall"] > START + 15000) & (cols["x_wall"] < START + 21000)
        assert not np.isnan(cols["mean"][breathing]).any()


def test_a_gap_between_single_seconds_breaks_the_line():
    points = [(1000.0 + s, 12.0, "breathing") for s in range(600)] + \
             [(1000.0 + s, 14.0, "breathing") for s in range(900, 1200)]
    trend = report.build_trend(points)
    cols = report.columns(trend, 1000.0, 2200.0)
    inside = (cols["x_wall"] > 1602) & (cols["x_wall"] < 1898)
    assert inside.any() and np.isnan(cols["mean"][inside]).all()
    assert not np.isnan(cols["mean"][cols["x_wall"] < 1598]).any()
    assert not np.isnan(cols["mean"][(cols["x_wall"] > 1902) & (cols["x_wall"] < 2198)]).any()


def test_a_short_apnea_shows_in_its_column():
    points = [(1000.0 + s, None if 5000 <= s < 5012 else 12.0, "apnea" if 5000 <= s < 5012 else "breathing")
              for s in range(43200)]
    cols = report.columns(report.build_trend(points), 1000.0, 44200.0)
    apnea = np.flatnonzero(cols["state"] == report.STATES.index("apnea"))
    assert 1 <= apnea.size <= 2
    assert cols["x_wall"][apnea[0]] == pytest.approx(6006.0, abs=cols["width_s"])


# -- the page ------------------------------------------------------------------------------------------------
def test_png_is_one_a4_landscape_page(seconds, paris):
    png = report.render_report(seconds, BED, START, END, "png", generated_wall=END + 60)
    _assert_a4_png(png)
    assert png == report.render_report(seconds, BED, START, END, "png", generated_wall=END + 60)


def test_pdf_of_a_compacted_night_is_one_page(compacted):
    _assert_one_page_pdf(report.render_report(compacted, BED, START, END, "pdf"))


def test_the_page_says_what_the_night_was(compacted, paris):
    texts = "\n".join(_texts(report.report_figure(compacted, BED, START, END, generated_wall=END + 60)))
    start, end = datetime.fromtimestamp(START), datetime.fromtimestamp(END)
    assert "Night report · bed-3" in texts
    assert f"{start:%a %d %b %Y %H:%M} → {end:%a %d %b %Y %H:%M}" in texts and "UTC+01:00" in texts
    assert "4 high · 3 medium · 2 low" in texts
    assert f"1 min means until {datetime.fromtimestamp(END - 3600):%a %H:%M}" in texts
    assert "Desaturation to 88 %" in texts and "false alarm (a.martin)" in texts
    assert "other pattern: cheyne stokes (a.martin)" in texts
    assert "m.dubois" in texts and "(+1 min 35 s)" in texts  # nobody_in_bed, acknowledged after 95 s


@pytest.mark.parametrize("fmt", ["png", "pdf"])
def test_an_empty_bed_is_one_page_that_says_so(compacted, fmt):
    data = report.render_report(compacted, "bed-9", START, END, fmt)
    if fmt == "png":
        _assert_a4_png(data)
    else:
        _assert_one_page_pdf(data)
    texts = _texts(report.report_figure(compacted, "bed-9", START, END))
    assert "no data in this period" in texts and "no alarms in this period" in texts


def test_a_period_over_the_clock_change_shows_both_offsets(tmp_path, paris):
    journal = open_journal(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        until = datetime(2027, 3, 28, 7, 0).timestamp()  # summer time from 02:00
        texts = "\n".join(_texts(report.report_figure(journal, BED, until - 12 * 3600, until)))
    finally:
        journal.close()
    assert "UTC+01:00 → UTC+02:00" in texts


def test_the_table_is_bounded_and_journal_text_is_tamed(tmp_path):
    journal = open_journal(f"sqlite:///{tmp_path / 'busy.db'}")
    try:
        for number in range(1, 31):
            example.add_alarm(journal, "bed-1", START, number, "central_apnea", 600.0 * number, 600.0 * number + 25,
                              [("ann\nlee $x$", 5)], ("confirmed", None, "$\\frac{1}{0}$ \x00 " + "long " * 1000))
        journal.add_vitals([("bed-1", START + s, 12.0, "breathing", 0.9) for s in range(0, 3600)])
        texts = _texts(report.report_figure(journal, "bed-1", START, END))
        for fmt in ("png", "pdf"):
            report.render_report(journal, "bed-1", START, END, fmt)
    finally:
        journal.close()
    assert "and 5 more" in texts
    assert "25" in texts and "26" not in texts
    notes = [t for t in texts if "frac" in t]
    assert len(notes) == 25 and all(len(t) <= 80 and "\n" not in t and "\x00" not in t for t in notes)
    assert any(t.startswith("ann lee $x$ ") for t in texts)


def test_the_largest_trend_renders_quickly_and_small(tmp_path):
    journal = open_journal(f"sqlite:///{tmp_path / 'big.db'}")
    try:
        rng = np.random.default_rng(5)
        rows = [("bed-1", END - s, float(r), "breathing" if s % 97 else "motion", 0.9)
                for s, r in zip(range(TREND_LIMIT + 50), rng.uniform(5, 60, TREND_LIMIT + 50))]
        for i in range(0, len(rows), 20_000):
            journal.add_vitals(rows[i:i + 20_000])
        started = time.perf_counter()
        pdf = report.render_report(journal, "bed-1", END - 2 * 86400, END, "pdf")
        png = report.render_report(journal, "bed-1", END - 2 * 86400, END, "png")
        took_s = time.perf_counter() - started
        texts = "\n".join(_texts(report.report_figure(journal, "bed-1", END - 2 * 86400, END)))
    finally:
        journal.close()
    _assert_one_page_pdf(pdf)
    _assert_a4_png(png)
    assert len(pdf) < 1_000_000 and took_s < 20
    assert f"trend limited to the latest {TREND_LIMIT:,} points" in texts


def test_without_matplotlib_it_says_how_to_get_it(compacted, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(UsageError, match=re.escape("the report needs matplotlib: pip install 'respmon[plot]'")):
        report.render_report(compacted, BED, START, END, "png")


def test_bad_formats_and_periods_are_refused(compacted):
    with pytest.raises(UsageError):
        report.render_report(compacted, BED, START, END, "svg")
    with pytest.raises(UsageError):
        report.render_report(compacted, BED, END, START, "png")
    with pytest.raises(UsageError):
        report.render_report(compacted, BED, START, math.nan, "png")


def test_duration_and_percent_texts():
    assert [report.duration_text(s) for s in (0, 42.4, 95, 3599, 3600, 7385)] == \
        ["0 s", "42 s", "1 min 35 s", "59 min 59 s", "1 h 00 min", "2 h 03 min"]
    assert [report.percent_text(f) for f in (0, 0.001, 0.5, 0.998, 1)] == ["0 %", "<1 %", "50 %", ">99 %", "100 %"]


# -- Journal.beds ---------------------------------------------------------------------------------------------
def test_beds_are_those_with_alarms_or_vitals(journal_url):
    journal = open_journal(journal_url)
    try:
        assert journal.beds() == []
        journal.add_vitals([("bed-2", END - 7200, 12.0, "breathing", 0.9), ("bed-1", END, None, "lost", None),
                            ("bed-1", END + 1, None, "lost", None)])
        journal.record_alert("bed-3", {"id": "a1", "event": "onset"}, END, END)
        journal.record_alert("bed-1", {"id": "a2", "event": "onset"}, END, END)
        journal.compact(END, 3600, 365 * 86400)  # bed-2's only row is now a 1 min mean
        assert journal.beds() == ["bed-1", "bed-2", "bed-3"]
        assert journal.beds(limit=2) == ["bed-1", "bed-2"]
    finally:
        journal.close()


# -- respmon report -------------------------------------------------------------------------------------------
@pytest.fixture
def station(tmp_path):
    """A station folder: station.yaml (beds bed-3 and bed-4) and its journal with tonight's night of bed-3."""
    config = tmp_path / "station.yaml"
    config.write_text(
        'station: {name: "ward-test"}\n'
        "beds:\n"
        '  - {name: bed-3, endpoint: "tcp://127.0.0.1:5600", snapshot_endpoint: "tcp://127.0.0.1:5601"}\n'
        '  - {name: bed-4, endpoint: "tcp://127.0.0.1:5602", snapshot_endpoint: "tcp://127.0.0.1:5603"}\n'
        'journal: {url: "sqlite:///station.db"}\n')
    journal = open_journal(f"sqlite:///{tmp_path / 'station.db'}")
    try:
        example.fill_night(journal, BED, math.floor(time.time() / 60) * 60, keep_1s_s=3600)
    finally:
        journal.close()
    return config


def _report(config, *args) -> list[str]:
    return ["report", *args, "--config", str(config)]


@pytest.mark.parametrize("name", ["night.pdf", "night.PNG"])
def test_report_command_writes_the_page(station, name, capsys):
    out = station.parent / name
    assert main(_report(station, "--bed", BED, "--since", "12h", "--out", str(out))) == 0
    data = out.read_bytes()
    if name.endswith(".pdf"):
        _assert_one_page_pdf(data)
    else:
        _assert_a4_png(data)
    assert capsys.readouterr().out.strip() == f"report for {BED} written to {out}"


def test_report_of_a_configured_bed_without_data_is_a_page(station):
    out = station.parent / "empty.pdf"
    assert main(_report(station, "--bed", "bed-4", "--since", "90m", "--out", str(out))) == 0
    _assert_one_page_pdf(out.read_bytes())


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("respmon"), err
    return err


@pytest.mark.parametrize("args, says", [
    (["--bed", "bed-7", "--since", "12h", "--out", "night.pdf"], "unknown bed 'bed-7'"),
    (["--bed", BED, "--since", "12h", "--out", "night.txt"], "--out must end in .pdf or .png"),
    (["--bed", BED, "--since", "12h", "--out", "nowhere/night.pdf"], "--out: no folder"),
])
def test_report_command_refuses_bad_values(station, args, says, capsys, monkeypatch):
    monkeypatch.chdir(station.parent)
    assert main(_report(station, *args)) == 2
    assert says in _one_error_line(capsys)
    assert not list(station.parent.glob("night.*"))


@pytest.mark.parametrize("since", ["0h", "40d", "soon", "-3h", "nanh", ""])
def test_report_command_refuses_bad_periods(station, since, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(_report(station, "--bed", BED, "--since", since, "--out", str(station.parent / "night.pdf")))
    assert exit_.value.code == 2
    assert "--since" in _one_error_line(capsys)


def test_report_command_refuses_a_journal_that_is_not_one(station, capsys):
    (station.parent / "station.db").unlink()
    (station.parent / "station.db").write_bytes(b"this is not a SQLite database\n" * 100)
    assert main(_report(station, "--bed", BED, "--since", "12h", "--out", str(station.parent / "n.pdf"))) == 2
    assert "station journal" in _one_error_line(capsys)
    assert not (station.parent / "n.pdf").exists()
