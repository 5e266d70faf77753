"""Primary users of generated devices, as Active Directory account names."""

from __future__ import annotations

import random
import unicodedata

from installer.demo.site_generator.catalog import (
    FIRST_NAMES,
    LAST_NAMES,
    ODD_FIRST_NAMES,
    ODD_LAST_NAMES,
    ODD_NAME_SHARE,
    TRANSLITERATION,
)

NO_USER_SHARE = 0.08  # workstations nobody has logged on to yet
SERVER_ADMIN_SHARE = 0.5


def pick_user(rng: random.Random, *, server: bool) -> str | None:
    """The sAMAccountName of the device's primary user, or None.

    Servers mostly have no primary user; when they have one it is an admin
    account (adm-...).
    """
    if server:
        if rng.random() >= SERVER_ADMIN_SHARE:
            return None
        return "adm-" + account_name(*_person(rng), rng)[:16]
    if rng.random() < NO_USER_SHARE:
        return None
    return account_name(*_person(rng), rng)


def _person(rng: random.Random) -> tuple[str, str]:
    first = rng.choice(ODD_FIRST_NAMES if rng.random() < ODD_NAME_SHARE else FIRST_NAMES)
    last = rng.choice(ODD_LAST_NAMES if rng.random() < ODD_NAME_SHARE else LAST_NAMES)
    return first, last


def account_name(first: str, last: str, rng: random.Random) -> str:
    """A sAMAccountName for a person, in one of the shapes real directories hold.

    Some directories transliterate (José Müller -> jose.muller), others keep
    the letters (jmüller); apostrophes are sometimes kept (o'brien).
    """
    first, last = first.lower(), last.lower()
    if rng.random() < 0.5:
        first, last = _ascii(first), _ascii(last)
    if rng.random() < 0.5:
        last = last.replace("'", "")
    name = f"{first}.{last}" if rng.random() < 0.45 else f"{first[0]}{last}"
    # sAMAccountName holds at most 20 characters.
    return name[:20]


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(TRANSLITERATION))
    return decomposed.encode("ascii", "ignore").decode("ascii")
