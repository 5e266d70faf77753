"""The connector's site adapters: the one module of the connector that names them.

Everything else in `bridge` takes the site through its ports: the inventory
as `bridge.sync.ports.InventorySource`, the co-management side as the
protocols of `onprem.site_authority`. The adapters are built here from the
site's engine: today the site reader and the embedded site's co-management
side. A second site adapter (a real site through the SMS Provider's admin
service) is a new class and a line here.
"""

from __future__ import annotations

import sqlalchemy as sa

from bridge.sync.ports import InventorySource
from onprem.authority.embedded import EmbeddedSiteAuthority
from onprem.site_authority import SiteAuthority
from onprem.site_reader import SiteReader


def site_reader(engine: sa.Engine, *, chunk_size: int | None = None) -> InventorySource:
    """The site's inventory, read through `engine` (`chunk_size` rows at a time, if given)."""
    if chunk_size is None:
        return SiteReader(engine)
    return SiteReader(engine, chunk_size=chunk_size)


def site_authority(engine: sa.Engine) -> SiteAuthority:
    """The site's co-management side behind `engine`.

    Raises `onprem.errors.SiteError` where the site has none the connector can
    reach yet (a SQL Server site database, read-only to cobridge): callers
    then run without arbitration and say so.
    """
    return EmbeddedSiteAuthority(engine)
