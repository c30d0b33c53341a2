"""Errors that end a command with one clear line and a non-zero exit status."""


class UsageError(Exception):
    """Bad input from the user (CLI value, config, input file): exit status 2."""

    exit_code = 2
