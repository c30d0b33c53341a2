"""Training: the same seed gives the same model on the same machine and thread count."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from respmon.classify.nets import build


@dataclass
class History:
    loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    wall_s: float = 0.0


def predict(net: nn.Module, windows: np.ndarray, batch: int = 256) -> np.ndarray:
    """Class probabilities (N, 7) for normalised windows."""
    net.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(windows), batch):
            logits = net(torch.from_numpy(np.ascontiguousarray(windows[start:start + batch], dtype=np.float32)))
            out.append(torch.softmax(logits, dim=1).numpy())
    return np.concatenate(out) if out else np.empty((0, 7), dtype=np.float32)


def train(arch: str, x: np.ndarray, y: np.ndarray, *, epochs: int, seed: int, x_val: np.ndarray | None = None,
          y_val: np.ndarray | None = None, batch: int = 64, lr: float = 3e-3, progress: bool = True,
          init: nn.Module | None = None) -> tuple[nn.Module, History]:
    """A network of `arch` trained on (x, y): from scratch, or from a copy of init's weights (a
    fine-tune, respmon/classify/finetune.py; init itself is not changed). lr is the one-cycle
    schedule's peak."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    generator = torch.Generator().manual_seed(seed)
    net = build(arch)
    if init is not None:
        net.load_state_dict(init.state_dict())
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = max(1, int(np.ceil(len(x) / batch)))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=epochs,
                                                   steps_per_epoch=steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    history = History()
    started = time.monotonic()
    tty = progress and sys.stderr.isatty()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(xt), generator=generator)
        total, correct, seen = 0.0, 0, 0
        for step in range(steps_per_epoch):
            idx = order[step * batch:(step + 1) * batch]
            logits = net(xt[idx])
            loss = loss_fn(logits, yt[idx])
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            total += loss.item() * len(idx)
            correct += int((logits.argmax(1) == yt[idx]).sum())
            seen += len(idx)
            if tty and step % 10 == 0:
                sys.stderr.write(f"\r{arch} epoch {epoch + 1}/{epochs} batch {step + 1}/{steps_per_epoch} "
                                 f"loss {total / seen:.3f} acc {correct / seen:.3f}")
                sys.stderr.flush()
        history.loss.append(total / seen)
        history.train_accuracy.append(correct / seen)
        if x_val is not None:
            val = float((predict(net, x_val).argmax(1) == y_val).mean())
            history.val_accuracy.append(val)
        if progress:
            val_text = f" val acc {history.val_accuracy[-1]:.4f}" if x_val is not None else ""
            end = "\n" if tty else ""
            sys.stderr.write(f"{end if tty else ''}\r{arch} epoch {epoch + 1}/{epochs} loss {history.loss[-1]:.4f} "
                             f"acc {history.train_accuracy[-1]:.4f}{val_text} "
                             f"({time.monotonic() - started:.0f} s)\n")
            sys.stderr.flush()
    history.wall_s = time.monotonic() - started
    net.eval()
    return net, history
