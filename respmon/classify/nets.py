"""The pattern classifiers: BI-AT-GRU (bidirectional GRU + attention pooling) and its baselines.

Every recurrent net starts with the same small strided 1-D convolution front end, which turns the
600 samples of a 60 s window at 10 Hz into 75 steps of learnt local features (one step per 0.8 s,
shorter than any breath up to 60 bpm's 1 s). A GRU stepping through all 600 samples costs about
10 ms per window on one CPU core; over 75 steps about 1.3 ms, inside the 2 ms budget. The
published BI-AT-GRU gave no sizes; these are ours.
"""

from __future__ import annotations

import torch
from torch import nn

from respmon.classify.names import ARCHS  # noqa: F401  (re-exported)
N_CLASSES = 7
STEM_CHANNELS = 16
HIDDEN = 32


class Stem(nn.Module):
    """(batch, samples) → (batch, steps, channels), steps = samples / 8."""

    def __init__(self, channels: int = STEM_CHANNELS):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv1d(1, channels, kernel_size=9, stride=2, padding=4), nn.ReLU(),
            nn.Conv1d(channels, channels, kernel_size=5, stride=2, padding=2), nn.ReLU(),
            nn.Conv1d(channels, channels, kernel_size=5, stride=2, padding=2), nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.unsqueeze(1)).transpose(1, 2)


class AttentionPool(nn.Module):
    """Weights each time step by a learnt relevance score and sums: a window summary that can
    dwell on the few seconds that matter (an apnea, a crescendo) wherever they fall."""

    def __init__(self, features: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(features, features), nn.Tanh(), nn.Linear(features, 1, bias=False))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.score(h).squeeze(-1), dim=1)
        return torch.bmm(weights.unsqueeze(1), h).squeeze(1)


class RecurrentNet(nn.Module):
    def __init__(self, cell: str, bidirectional: bool, attention: bool, hidden: int = HIDDEN):
        super().__init__()
        self.stem = Stem()
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn(STEM_CHANNELS, hidden, batch_first=True, bidirectional=bidirectional)
        features = hidden * (2 if bidirectional else 1)
        self.pool = AttentionPool(features) if attention else None
        self.head = nn.Linear(features, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(self.stem(x))
        summary = self.pool(h) if self.pool is not None else h[:, -1]
        return self.head(summary)


class ConvNet(nn.Module):
    """A plain 1-D CNN: the same front end, two more strided convolutions, global average pooling."""

    def __init__(self, channels: int = 32):
        super().__init__()
        self.stem = Stem()
        self.body = nn.Sequential(
            nn.Conv1d(STEM_CHANNELS, channels, kernel_size=5, stride=2, padding=2), nn.ReLU(),
            nn.Conv1d(channels, channels, kernel_size=5, stride=2, padding=2), nn.ReLU(),
        )
        self.head = nn.Linear(channels, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(self.stem(x).transpose(1, 2))
        return self.head(h.mean(dim=2))


def build(arch: str) -> nn.Module:
    if arch == "biatgru":
        return RecurrentNet("gru", bidirectional=True, attention=True)
    if arch == "gru":
        return RecurrentNet("gru", bidirectional=False, attention=False)
    if arch == "lstm":
        return RecurrentNet("lstm", bidirectional=False, attention=False)
    if arch == "biatlstm":
        return RecurrentNet("lstm", bidirectional=True, attention=True)
    if arch == "cnn":
        return ConvNet()
    raise ValueError(f"unknown architecture {arch!r} (known: {', '.join(ARCHS)})")


def parameter_count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
