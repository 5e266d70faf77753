"""A deterministic, realistic generator of configuration-manager site databases.

`seed_site` fills an empty embedded site copy (SQLite or PostgreSQL) with an
estate an admin of the real product recognises, dirty data included;
`touch_site` then changes, adds and deletes devices the way a day at a real
site does, for delta-sync tests and benchmarks.
"""

from installer.demo.site_generator.device_factory import INVALID_KINDS
from installer.demo.site_generator.seed import SeedReport, SiteAlreadySeeded, seed_site
from installer.demo.site_generator.touch import SiteNotSeeded, TouchReport, touch_site

__all__ = [
    "INVALID_KINDS",
    "SeedReport",
    "SiteAlreadySeeded",
    "SiteNotSeeded",
    "TouchReport",
    "seed_site",
    "touch_site",
]
