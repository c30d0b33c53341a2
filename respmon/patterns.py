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
