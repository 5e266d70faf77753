"""The directory adapter: Active Directory computer objects over LDAP (ldap3).

`DirectoryReader(config).read_full()` streams records and rejects and ends
with a cursor; `read_delta(cursor)` returns what changed since. Every ldap3
call passes through `connection.DirectoryConnection`, where library errors
become the `Directory*` errors of `onprem.errors`.
"""

from onprem.directory.config import DEFAULT_FILTER, DirectoryConfig
from onprem.directory.cursor import DcIdentity, DirectoryCursor
from onprem.directory.reader import DirectoryDelta, DirectoryReader, FullRead
from onprem.directory.records import DirectoryRecord, DirectoryReject, parse_entry

__all__ = [
    "DEFAULT_FILTER",
    "DcIdentity",
    "DirectoryConfig",
    "DirectoryCursor",
    "DirectoryDelta",
    "DirectoryReader",
    "DirectoryRecord",
    "DirectoryReject",
    "FullRead",
    "parse_entry",
]
