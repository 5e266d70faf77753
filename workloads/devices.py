"""Facts about a device that co-management rules depend on: OS family and build.

Co-management eligibility (DOMAIN.md) needs Windows 10 1709 (build 16299) or
later and no server OS; the tenant's device list shows the same families.
"""

from __future__ import annotations

WINDOWS_11 = "Windows 11"
WINDOWS_10 = "Windows 10"
WINDOWS_SERVER = "Windows Server"
OTHER = "Other"
FIRST_WINDOWS_11_BUILD = 22000


def build_number(os_build: str | None) -> int | None:
    """The build of a version string such as `10.0.22631` (22631), or None."""
    if not os_build:
        return None
    tail = os_build.strip().rsplit(".", 1)[-1]
    return int(tail) if tail.isdigit() and tail.isascii() else None


def os_family(os_name: str | None, os_build: str | None) -> str:
    """Windows 11, Windows 10, Windows Server or Other, from the site's OS name and build."""
    name = (os_name or "").lower()
    if "server" in name:
        return WINDOWS_SERVER
    build = build_number(os_build)
    if build is not None and ("workstation" in name or "windows 1" in name):
        return WINDOWS_11 if build >= FIRST_WINDOWS_11_BUILD else WINDOWS_10
    return OTHER


FIRST_CO_MANAGEMENT_BUILD = 16299  # Windows 10 1709


def os_supports_co_management(os_name: str | None, os_build: str | None) -> bool:
    """Whether the OS may be co-managed: Windows 10 1709 (build 16299) or later, not a server."""
    if os_family(os_name, os_build) not in (WINDOWS_10, WINDOWS_11):
        return False
    build = build_number(os_build)
    return build is not None and build >= FIRST_CO_MANAGEMENT_BUILD
