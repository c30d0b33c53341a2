from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from respmon.sim.script import SCRIPT_PATTERNS, Segment, parse_script


def test_issue_example():
    segments = parse_script("eupnea@14:60,central_apnea:25,eupnea:60,motion:4,absent:20")
    assert segments == [
        Segment("eupnea", 60.0, 14.0),
        Segment("central_apnea", 25.0),
        Segment("eupnea", 60.0),
        Segment("motion", 4.0),
        Segment("absent", 20.0),
    ]


@pytest.mark.parametrize(
    "script, fragment",
    [
        ("", "empty"),
        ("eupnea:60,,absent:5", "empty segment"),
        ("eupnea", "expected NAME[@RATE]:SECONDS"),
        ("snoring:10", "unknown name 'snoring'"),
        ("noise:10", "unknown name 'noise'"),
        ("eupnea:-5", "duration must be > 0"),
        ("eupnea:0", "duration must be > 0"),
        ("eupnea:ten", "duration 'ten' is not a number"),
        ("eupnea:inf", "must be finite"),
        ("eupnea@fast:10", "rate 'fast' is not a number"),
        ("eupnea@90:10", "rate must be 2-60 bpm"),
        ("motion@12:10", "motion has no breathing rate"),
        ("central_apnea@12:10", "central_apnea has no breathing rate"),
    ],
)
def test_malformed_scripts_name_the_problem(script, fragment):
    with pytest.raises(ValueError) as caught:
        parse_script(script)
    assert fragment in str(caught.value)


segment_text = st.builds(
    lambda name, rate, seconds: (f"{name}@{rate}:{seconds}" if rate else f"{name}:{seconds}",
                                 Segment(name, float(seconds), float(rate) if rate else None)),
    st.sampled_from([p for p in SCRIPT_PATTERNS if p != "central_apnea"]),
    st.one_of(st.none(), st.integers(2, 60)),
    st.integers(1, 600),
)


@given(st.lists(segment_text, min_size=1, max_size=8))
def test_round_trip(items):
    script = ",".join(text for text, _ in items)
    assert parse_script(script) == [segment for _, segment in items]
