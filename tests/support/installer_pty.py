"""A command on a pseudo-terminal, driven like an admin at a keyboard (standard library `pty`).

The child gets the terminal as its controlling terminal (`pty.fork`), so
hidden prompts (getpass reads /dev/tty) behave as for a person. `expect`
waits for text in what the child printed since the last match (colour codes
removed); `send` types a line and Enter.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from collections.abc import Mapping, Sequence

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


class Terminal:
    """`argv` running on a pseudo-terminal 200 columns wide."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: exec, or leave without running the parent's cleanup
            try:
                os.execve(argv[0], list(argv), dict(env))
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        self.transcript = ""
        self._seen = 0
        self._closed = False

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            data = b""
        if not data:
            self._closed = True
            return False
        self.transcript += _ANSI.sub("", data.decode("utf-8", "replace")).replace("\r", "")
        return True

    def expect(self, text: str, timeout: float = 60) -> str:
        """Wait until `text` is printed (after the previous match); what came before it."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.transcript.find(text, self._seen)
            if found >= 0:
                before = self.transcript[self._seen : found]
                self._seen = found + len(text)
                return before
            if self._closed or time.monotonic() > deadline:
                raise AssertionError(f"never printed {text!r}; the end:\n{self.transcript[-3000:]}")
            self._read(min(0.5, max(deadline - time.monotonic(), 0.01)))

    def send(self, line: str) -> None:
        """Type `line` and Enter."""
        os.write(self.fd, line.encode() + b"\r")

    def wait(self, timeout: float = 120) -> int:
        """Read to the end; the exit code."""
        deadline = time.monotonic() + timeout
        while not self._closed and time.monotonic() < deadline:
            self._read(0.5)
        if not self._closed:
            self.kill()
            raise AssertionError(f"still running after {timeout:.0f} s:\n{self.transcript[-3000:]}")
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)

    def kill(self) -> None:
        """Stop the child (for a failed test)."""
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
