"""Names of the classifier architectures, importable without torch (the CLI lists them)."""

ARCHS = ("biatgru", "gru", "lstm", "biatlstm", "cnn")


def default_model():
    """The shipped model file: package data (respmon/models, a link to the checkout's models/)."""
    from importlib.resources import files
    from pathlib import Path

    return Path(str(files("respmon") / "models" / "biatgru.pt"))
