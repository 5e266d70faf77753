"""The validity rules for site values, twice: native for speed, in Python for precision.

The native types (`HostName`, `FreeText`, ...) express each rule as
pydantic-core constraints (patterns, lengths, ranges, strict ints), so a valid
record is checked without calling back into Python. When a record fails,
`classify` re-checks the failing value with the Python rule of its kind to
give a precise, stable reject code (`REJECT_CODES`). A property test keeps
the two in agreement.

The rules protect everything downstream: identity keys must parse, text must
be storable anywhere (no NUL), dates must be possible.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

REJECT_CODES: dict[str, str] = {
    "invalid_guid": "not a GUID",
    "empty_value": "empty where a value is required",
    "control_character": "contains a control character",
    "too_long": "longer than allowed",
    "impossible_date": "a date that cannot be real",
    "wrong_type": "a value of the wrong type",
    "out_of_range": "a value outside its allowed range",
}

MAX_NAME_LENGTH = 255  # the longest valid FQDN; NetBIOS names are 15
MAX_TEXT_LENGTH = 4000  # nvarchar(4000), the widest column the views carry
MIN_YEAR, MAX_YEAR = 1990, 2100

# Values the site uses for "never" or "unknown" rather than a real moment:
# FILETIME zero (AD's lastLogonTimestamp of a machine that never logged on)
# and SQL Server's zero date.
_NEVER = (datetime(1601, 1, 1), datetime(1900, 1, 1))

# Unicode White_Space: blank to the native patterns and the Python rules alike.
# (Python's own str.strip() would also strip \x1c-\x1f, control characters.)
WHITESPACE = " \t\n\v\f\r\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_WS = "".join(f"\\u{ord(c):04x}" for c in WHITESPACE)

# C0 and C1 control characters (C1 includes NEL, which str.strip() eats).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_GUID = re.compile(
    r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$"
)
_INTEGER_TEXT = re.compile(r"^\s*[+-]?[0-9]+\s*$", re.ASCII)
_NIL_GUID = "00000000-0000-0000-0000-000000000000"


def _reject(code: str, detail: str) -> PydanticCustomError:
    return PydanticCustomError(code, detail)


def _text(value: Any, *, limit: int, allow_control: bool) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _reject("wrong_type", f"expected text, got {type(value).__name__}")
    if "\x00" in value or (not allow_control and _CONTROL.search(value)):
        raise _reject("control_character", "contains a control character")
    if len(value) > limit:
        raise _reject("too_long", f"{len(value)} characters, at most {limit} allowed")
    return value


def _host_name(value: Any) -> str:
    text = _text(value, limit=MAX_NAME_LENGTH, allow_control=False)
    if text is None or not text.strip(WHITESPACE):
        raise _reject("empty_value", "a device name is required")
    return text


def _optional_host_name(value: Any) -> str | None:
    text = _text(value, limit=MAX_NAME_LENGTH, allow_control=False)
    return text if text and text.strip(WHITESPACE) else None


def _free_text(value: Any) -> str | None:
    # Error details and the like may hold line breaks; only NUL is unstorable.
    return _text(value, limit=MAX_TEXT_LENGTH, allow_control=True)


def _smsid(value: Any) -> str:
    text = _text(value, limit=64, allow_control=False)
    if not text or not text.strip(WHITESPACE):
        raise _reject("empty_value", "the client GUID (SMSID) is required")
    body = text.strip(WHITESPACE)
    if body[:5].upper() != "GUID:" or not _GUID.match(body[5:]):
        raise _reject("invalid_guid", "expected GUID:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")
    return "GUID:" + str(uuid.UUID(body[5:])).upper()


def _optional_guid(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _reject("wrong_type", f"expected text, got {type(value).__name__}")
    if not value.strip(WHITESPACE):
        return None
    body = value.strip(WHITESPACE)
    if not _GUID.match(body):
        raise _reject("invalid_guid", "expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")
    canonical = str(uuid.UUID(body))
    return None if canonical == _NIL_GUID else canonical


def _flag(value: Any) -> int | None:
    number = _small_int(value)
    if number is None or number in (0, 1):
        return number
    raise _reject("out_of_range", f"{number} where 0 or 1 is expected")


def _small_int(value: Any) -> int | None:
    if value is None or isinstance(value, int):
        return None if value is None else int(value)
    if isinstance(value, str) and _INTEGER_TEXT.match(value):
        return int(value)
    raise _reject("wrong_type", f"expected a whole number, got {type(value).__name__}")


def _date(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise _reject("wrong_type", "expected a date and time") from None
    if not isinstance(value, datetime):
        raise _reject("wrong_type", f"expected a date and time, got {type(value).__name__}")
    if value in _NEVER:
        return None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise _reject("impossible_date", f"year {value.year} is outside {MIN_YEAR}-{MAX_YEAR}")
    return value


_NO_CONTROL = r"[^\x00-\x1f\x7f-\x9f]"
_HEX_GUID = r"\{?[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}?"
_EARLIEST, _LATEST = datetime(MIN_YEAR, 1, 1), datetime(MAX_YEAR, 12, 31, 23, 59, 59, 999999)
# The moments the reader's SQL maps to NULL before validation.
NEVER_DATES = _NEVER


# The native pattern has already checked the shape; these only normalise.
def _canonical_smsid(value: str) -> str:
    return "GUID:" + value.strip(WHITESPACE)[5:].strip("{}").upper()


def _canonical_guid(value: str | None) -> str | None:
    if value is None:
        return None
    canonical = value.strip(WHITESPACE).strip("{}").lower()
    return canonical if canonical and canonical != _NIL_GUID else None


HostName = Annotated[
    str,
    StringConstraints(
        max_length=MAX_NAME_LENGTH,
        pattern=rf"^{_NO_CONTROL}*[^{_WS}\x00-\x1f\x7f-\x9f]{_NO_CONTROL}*$",
    ),
]
OptionalHostName = Annotated[
    str | None, StringConstraints(max_length=MAX_NAME_LENGTH, pattern=rf"^{_NO_CONTROL}*$")
]
FreeText = Annotated[
    str | None, StringConstraints(max_length=MAX_TEXT_LENGTH, pattern=r"^[^\x00]*$")
]
SmsId = Annotated[
    str,
    StringConstraints(pattern=rf"^[{_WS}]*[Gg][Uu][Ii][Dd]:{_HEX_GUID}[{_WS}]*$"),
    AfterValidator(_canonical_smsid),
]
OptionalGuid = Annotated[
    str | None,
    StringConstraints(pattern=rf"^[{_WS}]*({_HEX_GUID})?[{_WS}]*$"),
    AfterValidator(_canonical_guid),
]
# SQL Server returns bit columns as bools and int columns as ints; both are
# flags. Numeric text is taken as its number (as SQL Server would convert it);
# other text, such as "yes", is refused.
SiteFlag = Annotated[int | None, Field(ge=0, le=1)]
SiteInt = Annotated[int | None, Field()]
SiteDate = Annotated[datetime | None, Field(ge=_EARLIEST, le=_LATEST)]

# The Python rule of each kind, for `classify`.
RULES: dict[str, Callable[[Any], object]] = {
    "host_name": _host_name,
    "optional_host_name": _optional_host_name,
    "free_text": _free_text,
    "smsid": _smsid,
    "optional_guid": _optional_guid,
    "flag": _flag,
    "int": _small_int,
    "date": _date,
}


def classify(kind: str, value: Any) -> tuple[str, str] | None:
    """The reject code and message the Python rule of `kind` gives `value`, or None if valid."""
    try:
        RULES[kind](value)
    except PydanticCustomError as exc:
        return exc.type, exc.message()
    return None


# Serial numbers that whitebox firmware ships with: shared by many machines,
# so they identify nothing and must never be used to match devices.
PLACEHOLDER_SERIALS = frozenset(
    s.casefold()
    for s in (
        "To Be Filled By O.E.M.",
        "To be filled by O.E.M.",
        "Default string",
        "System Serial Number",
        "Chassis Serial Number",
        "Not Specified",
        "Not Applicable",
        "N/A",
        "None",
        "INVALID",
        "0",
        "00000000",
        "0123456789",
        "123456789",
        "1234567890",
    )
)


def identifying_serial(serial: str | None) -> str | None:
    """The serial number as an identity key, or None when it identifies nothing."""
    if serial is None:
        return None
    cleaned = serial.strip()
    if not cleaned or cleaned.casefold() in PLACEHOLDER_SERIALS:
        return None
    return cleaned.upper()


_UNESCAPED_COMMA = re.compile(r"(?<!\\),")


def fqdn_from(host: str | None, distinguished_name: str | None) -> str | None:
    """The FQDN of a domain computer: its host name under the DNS form of its DN's domain."""
    if not host or not host.strip() or not distinguished_name:
        return None
    labels = []
    for part in _UNESCAPED_COMMA.split(distinguished_name):
        key, _, val = part.strip().partition("=")
        if key.strip().upper() == "DC" and val.strip():
            labels.append(val.strip())
    if not labels:
        return None
    return ".".join([host.strip(), *labels]).lower()
