"""The uploader lease of an active/standby pair (DESIGN.md section 13).

One connector uploads at a time: the one holding the lease in the shared
state database. A standby retries; a holder that stops cleanly releases it.
A holder that crashed leaves it behind: a restart on the same host sees the
holder's process is gone and takes over at once, rather than waiting out the
expiry (which would miss the freshness target). A holder on another host is
never second-guessed: only its expiry frees the lease.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from bridge.state.ports import WithLease

log = logging.getLogger("cobridge.connector")


class UploaderLease:
    """This process's claim on the uploader lease (holder id `host:pid:nonce`)."""

    def __init__(self, state: WithLease, ttl: timedelta, *, clock: Callable[[], datetime]) -> None:
        self._state = state
        self._ttl = ttl
        self._clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def hold(self) -> bool:
        """Take or renew the lease; whether this process may upload now."""
        state = self._state
        if state.lease.try_acquire(self.holder, self._ttl, now=self._clock()):
            return True
        if self._take_over_from_the_dead():
            return True
        log.info("standby: another connector holds the uploader lease")
        return False

    def release(self) -> bool:
        """Give the lease up on a clean stop."""
        return self._state.lease.release(self.holder)

    def _take_over_from_the_dead(self) -> bool:
        current = self._state.lease.current()
        if current is None or current.holder is None:
            return False
        host, _, rest = current.holder.partition(":")
        pid_text = rest.split(":", 1)[0]
        if host != socket.gethostname() or not pid_text.isdigit() or _alive(int(pid_text)):
            return False
        taken = self._state.lease.take_over(
            current.holder, self.holder, self._ttl, now=self._clock()
        )
        if taken:
            log.warning("took over the uploader lease of a stopped process (%s)", current.holder)
        return taken


def _alive(pid: int) -> bool:
    """Whether a process of that id runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True
