"""Errors that end a command with one clear line and a non-zero exit status."""


def short_repr(value: object, limit: int) -> str:
    """A value for an error line: its repr, cut to `limit` characters (a 50 MB bed name was echoed
    back in full)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short_text(text: str, limit: int) -> str:
    """Text for an error line: as it is when printable and short, else escaped and cut."""
    if text.isprintable() and len(text) <= limit:
        return text
    escaped = repr(text)[1:-1]
    return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."


class UsageError(Exception):
    """Bad input from the user (CLI value, config, input file): exit status 2."""

    exit_code = 2
