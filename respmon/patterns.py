"""Canonical breathing-pattern names and the RSM authors' integer labels.

The names are used everywhere a pattern is named (CLI, JSON, config, ZeroMQ); the labels
follow the authors' numbering so their CSV files read and write unchanged.
"""

PATTERNS = (
    "eupnea",
    "bradypnea",
    "tachypnea",
    "biots",
    "cheyne_stokes",
    "central_apnea",
    "noise",
)

LABEL_OF = {name: index + 1 for index, name in enumerate(PATTERNS)}
PATTERN_OF = {label: name for name, label in LABEL_OF.items()}


def label_of(pattern: str) -> int:
    """Authors' label (1..7) of a canonical pattern name."""
    return LABEL_OF[pattern]


def pattern_of(label: int) -> str:
    """Canonical pattern name of an authors' label (1..7)."""
    return PATTERN_OF[int(label)]


# Adult resting rate 12-20/min; bradypnea < 12, tachypnea > 20 (StatPearls "Physiology,
# Respiratory Rate" / "Bradypnea" / "Tachypnea").
BRADYPNEA_BELOW_BPM = 12.0
TACHYPNEA_ABOVE_BPM = 20.0


def pattern_for_rate(rate_bpm: float) -> str:
    """The pattern a steady breathing rate implies by itself (adult definitions)."""
    if rate_bpm < BRADYPNEA_BELOW_BPM:
        return "bradypnea"
    return "tachypnea" if rate_bpm > TACHYPNEA_ABOVE_BPM else "eupnea"
