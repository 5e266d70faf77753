"""Machine names, serial numbers, GUIDs and distinguished names of generated devices.

Machine names and serial numbers must never collide by accident: the site's
duplicate names and shared serials are planted on purpose and counted. Names
that carry a counter (corporate asset numbers, WKS numbers, server numbers)
come from `NameAllocator`, which hands numbers out in ResourceID order; random
looking parts (OOBE suffixes, service tags) are a bijection of the device's
index, so two devices can only share them if they share an index.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterable

from installer.demo.site_generator.catalog import (
    DOMAIN_DN,
    ESCAPED_OUS,
    LONG_OU_CHAIN,
    PLACEHOLDER_SERIAL_BY_MAKER,
    Department,
    Hardware,
    Location,
)

ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DELL_TAG = "0123456789BCDFGHJKLMNPQRSTVWXYZ"  # Dell service tags skip vowels
_HP_PREFIXES = ("5CG", "5CD", "CND", "MXL", "2UA")
# A prime that shares no factor with any modulus used below (all are 2^a 3^b 5^c 31^d).
_MULTIPLIER = 2_654_435_761


def scramble(index: int, modulus: int, salt: int) -> int:
    """A bijection of [0, modulus) that makes consecutive indexes look unrelated."""
    return (index * _MULTIPLIER + salt) % modulus


def encode(value: int, alphabet: str, width: int) -> str:
    """`value` written in `alphabet` with exactly `width` digits (most significant first)."""
    base = len(alphabet)
    digits = []
    for _ in range(width):
        value, digit = divmod(value, base)
        digits.append(alphabet[digit])
    return "".join(reversed(digits))


def random_guid(rng: random.Random) -> uuid.UUID:
    """A version-4 GUID drawn from `rng` (reproducible, unlike `uuid.uuid4`)."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def smsid(rng: random.Random) -> str:
    """A client GUID as the site stores it: `GUID:` and the uppercase canonical form."""
    return "GUID:" + str(random_guid(rng)).upper()


class Salts:
    """Per-site salts of the index bijections, derived from the generator seed."""

    __slots__ = ("desktop", "laptop", "serial_salt")

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"{seed}:salts")
        self.desktop = rng.getrandbits(64)
        self.laptop = rng.getrandbits(64)
        self.serial_salt = rng.getrandbits(64)

    def oobe_name(self, index: int, form: str) -> str:
        """The name Windows setup gives a machine: DESKTOP-XXXXXXX or LAPTOP-XXXXXXXX."""
        if form == "laptop":
            return "LAPTOP-" + encode(scramble(index, 36**8, self.laptop), ALNUM, 8)
        return "DESKTOP-" + encode(scramble(index, 36**7, self.desktop), ALNUM, 7)

    def serial(self, index: int, hardware: Hardware, rng: random.Random) -> str:
        """A serial number in the manufacturer's format, unique per index within its style."""
        style = hardware.serial_style
        if style == "placeholder":
            return PLACEHOLDER_SERIAL_BY_MAKER[hardware.manufacturer]
        if style == "dell":
            return encode(scramble(index, 31**7, self.serial_salt), _DELL_TAG, 7)
        if style in ("hp", "hpe"):
            prefix = "CZJ" if style == "hpe" else rng.choice(_HP_PREFIXES)
            body = scramble(index, 10**4 * 36**3, self.serial_salt)
            week, tail = divmod(body, 36**3)
            return f"{prefix}{week:04d}{encode(tail, ALNUM, 3)}"
        if style in ("lenovo_laptop", "lenovo_desktop"):
            prefix = "PF" if style == "lenovo_laptop" else "MJ"
            return prefix + encode(scramble(index, 36**6, self.serial_salt), ALNUM, 6)
        if style == "surface":
            return f"{scramble(index, 10**12, self.serial_salt):012d}"
        if style == "vmware":
            raw = rng.getrandbits(128).to_bytes(16, "big")
            return f"VMware-{raw[:8].hex(' ')}-{raw[8:].hex(' ')}"
        digits = f"{scramble(index, 10**26, self.serial_salt):026d}"
        return "-".join(digits[i : i + 4] for i in range(0, 26, 4))


_CORPORATE = re.compile(r"^([A-Z]{2,3})-([A-Z]{3})-(\d{5,})(?:-[A-Z]+)?$")
_WKS = re.compile(r"^WKS(\d{6,})$")
_SERVER = re.compile(r"^SRV-([A-Z]+)-(\d{2,})$")


class NameAllocator:
    """Counters behind corporate, WKS and server names, handed out in ResourceID order.

    Numbers only grow, so a name is never handed out twice, and a new
    allocator resumes after the highest number already in use (`resume`).
    """

    __slots__ = ("_corporate", "_servers", "_wks")

    def __init__(self) -> None:
        self._corporate: dict[tuple[str, str], int] = {}
        self._servers: dict[str, int] = {}
        self._wks = 1200

    def corporate(self, department: Department, location: Location, gap: int) -> str:
        """An asset-numbered name such as FIN-LON-01234; `gap` skips retired numbers."""
        key = (department.code, location.code)
        number = self._corporate.get(key, 100) + gap
        self._corporate[key] = number
        return f"{department.code}-{location.code}-{number:05d}"

    def wks(self, gap: int) -> str:
        """A WKS name such as WKS004512."""
        self._wks += gap
        return f"WKS{self._wks:06d}"

    def server(self, role: str) -> str:
        """A server name such as SRV-SQL-07."""
        number = self._servers.get(role, 0) + 1
        self._servers[role] = number
        return f"SRV-{role}-{number:02d}"

    def resume(self, names: Iterable[str | None]) -> None:
        """Continue after every number already used by `names` (for `touch_site`)."""
        for name in names:
            if not name:
                continue
            if m := _CORPORATE.match(name):
                key = (m.group(1), m.group(2))
                self._corporate[key] = max(self._corporate.get(key, 100), int(m.group(3)))
            elif m := _WKS.match(name):
                self._wks = max(self._wks, int(m.group(1)))
            elif m := _SERVER.match(name):
                role = m.group(1)
                self._servers[role] = max(self._servers.get(role, 0), int(m.group(2)))


def has_odd_characters(text: str | None) -> bool:
    """Whether `text` holds what naive code mishandles: non-ASCII, quotes, DN escapes."""
    return text is not None and (not text.isascii() or any(c in text for c in "'\"\\"))


def workstation_dn(name: str, location: Location, department: Department, shape: str) -> str:
    """The computer object's DN; `shape` is "plain", "escaped" or "long"."""
    ous = [department.name, "Workstations", location.ou]
    if shape == "escaped":
        ous.insert(0, ESCAPED_OUS.get(department.code, r"R\, D"))
    elif shape == "long":
        ous[:0] = LONG_OU_CHAIN
    return f"CN={name}," + ",".join(f"OU={ou}" for ou in ous) + f",{DOMAIN_DN}"


def server_dn(name: str, location: Location, role: str) -> str:
    """A server's DN; domain controllers sit in their built-in OU."""
    if role == "DC":
        return f"CN={name},OU=Domain Controllers,{DOMAIN_DN}"
    return f"CN={name},OU={role},OU=Servers,OU={location.ou},{DOMAIN_DN}"
