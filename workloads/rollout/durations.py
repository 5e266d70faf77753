"""Soak times: whole seconds, or a duration such as "30m", "2h", "1h30m", "1d".

A document may write either; the model keeps seconds, and `format_duration`
writes them back the short way for plans and status lines.
"""

from __future__ import annotations

import re

_UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
MAX_SECONDS = 90 * 86_400  # a soak longer than a quarter is a typo, not a plan


def parse_duration(value: object) -> int:
    """Seconds from an int (seconds) or a string ("90", "30m", "2h", "1h30m", "1d").

    Raises ValueError with the accepted forms when `value` is none of them.
    """
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string such as '30m'")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            seconds = int(text)
        else:
            match = _DURATION.fullmatch(text)
            if not text or match is None:
                raise ValueError(
                    f"{value!r} is not a duration: write seconds (1800) or a duration "
                    "such as '30m', '2h', '1h30m', '1d'"
                )
            seconds = sum(
                int(part) * unit
                for part, unit in zip(match.groups(), _UNITS.values(), strict=True)
                if part
            )
    else:
        raise ValueError(
            f"a duration is a number of seconds or a string such as '30m', not {type(value).__name__}"
        )
    if seconds < 0:
        raise ValueError(f"a duration must not be negative, got {seconds}")
    if seconds > MAX_SECONDS:
        raise ValueError(f"a duration of {seconds} s is longer than 90 days")
    return seconds


def format_duration(seconds: int) -> str:
    """`seconds` the short way: 0 -> "0s", 5400 -> "1h30m", 86400 -> "1d"."""
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in _UNITS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
