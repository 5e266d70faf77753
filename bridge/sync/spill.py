"""A spill file: the cycle's changed records, encoded, written and read back in order.

Identity resolution needs every record's keys before it can say what to
send, but keeping every changed record in memory would grow with the site.
The planner writes each changed record's wire JSON here as the read streams
past (the read is in ResourceID order), then reads them back in the same
order beside the resolutions, which are sorted by ResourceID too: a merge,
with memory bounded by one record.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

# ResourceID (signed 64-bit), then the payload's length.
_HEADER = struct.Struct("<qI")


class SpillFile:
    """Append-then-read records of (ResourceID, bytes); deleted when closed."""

    def __init__(self, directory: Path | None = None) -> None:
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        # Unnamed where the platform allows: nothing is left behind by a crash.
        # Closed by close(), which every user reaches (a context manager, or a finally).
        self._file: BinaryIO = tempfile.TemporaryFile(  # noqa: SIM115
            prefix="cobridge-spill-", dir=directory
        )
        self._writing = True
        self.count = 0
        self.bytes = 0

    def write(self, resource_id: int, payload: bytes) -> None:
        """Append one record; ResourceIDs must arrive in ascending order."""
        if not self._writing:
            raise RuntimeError("the spill file is being read; it takes no more records")
        self._file.write(_HEADER.pack(resource_id, len(payload)))
        self._file.write(payload)
        self.count += 1
        self.bytes += _HEADER.size + len(payload)

    def records(self) -> Iterator[tuple[int, bytes]]:
        """Every record, in the order written (once)."""
        self._writing = False
        self._file.flush()
        self._file.seek(0)
        read = self._file.read
        for _ in range(self.count):
            resource_id, size = _HEADER.unpack(read(_HEADER.size))
            yield resource_id, read(size)

    def close(self) -> None:
        """Delete the file."""
        self._file.close()

    def __enter__(self) -> SpillFile:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()
