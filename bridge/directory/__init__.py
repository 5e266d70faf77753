"""The connector side of the directory merge: AD computers joined to the site's devices.

`matching` holds the pure rules (DESIGN.md section 5's situations for AD
objects); `directory_pass` runs one read of the directory after a sync cycle
and stores its rows, matches and cursor in one transaction.
"""

from bridge.directory.directory_pass import (
    DirectoryPass,
    DirectoryPassReport,
    build_directory_pass,
    run_directory_pass,
)
from bridge.directory.matching import SiteCandidate, SiteIndex, domain_of, match_computer

__all__ = [
    "DirectoryPass",
    "DirectoryPassReport",
    "SiteCandidate",
    "SiteIndex",
    "build_directory_pass",
    "domain_of",
    "match_computer",
    "run_directory_pass",
]
