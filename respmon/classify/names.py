"""Names of the classifier architectures, importable without torch (the CLI lists them)."""

ARCHS = ("biatgru", "gru", "lstm", "biatlstm", "cnn")
