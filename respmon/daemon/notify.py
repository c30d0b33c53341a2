"""systemd's notification protocol (sd_notify): READY=1, STATUS=..., WATCHDOG=1, STOPPING=1.

A datagram to the unix socket named in NOTIFY_SOCKET ("@name" is the abstract namespace). Without
NOTIFY_SOCKET (not under systemd) every call is a no-op. WATCHDOG_USEC, when set for this process
(WATCHDOG_PID absent or ours), gives the watchdog period; we ping at half of it.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    def __init__(self, environ: dict | None = None):
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self.address = ("\0" + address[1:]) if address.startswith("@") else address
        self.watchdog_interval_s: float | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_interval_s = int(usec) / 1e6 / 2.0
        self._socket = None
        if self.address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def send(self, *lines: str) -> bool:
        if self._socket is None:
            return False
        try:
            self._socket.sendto("\n".join(lines).encode(), self.address)
            return True
        except OSError:
            return False  # systemd gone or the socket full: never worth dying for

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
