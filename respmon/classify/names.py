"""Names of the classifier architectures, importable without torch (the CLI lists them)."""

ARCHS = ("biatgru", "gru", "lstm", "biatlstm", "cnn")


def default_model():
    """The shipped model file (models/biatgru.pt of the checkout)."""
    from pathlib import Path

    return Path(__file__).resolve().parents[2] / "models" / "biatgru.pt"
