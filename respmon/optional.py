"""Optional dependencies (the package's extras): where one is not installed, a stand-in that says
so in one line (exit 2) the moment it is used, so that the rest of respmon imports and runs."""

from __future__ import annotations

from respmon.errors import UsageError

REALSENSE_MISSING = ("pyrealsense2 is not installed: a camera and legacy .bag recordings need respmon's "
                     "camera extra (pip install 'respmon[camera]')")


class MissingExtra(UsageError):
    """An optional dependency this command needs is not installed."""


class Missing:
    """Any attribute is itself; calling it raises MissingExtra."""

    def __init__(self, message: str):
        self._message = message

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __call__(self, *args, **kwargs):
        raise MissingExtra(self._message)


def import_realsense():
    """pyrealsense2, or a Missing that says how to install it."""
    try:
        import pyrealsense2
    except ImportError:
        return Missing(REALSENSE_MISSING)
    return pyrealsense2
