"""A rendered page's text, and screenshots kept under $COBRIDGE_SCREENSHOTS."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def text(locator: Any) -> str:
    """A locator's rendered text, its line breaks and runs of spaces as single spaces."""
    return " ".join(locator.inner_text().split())


def keep_screenshot(page: Any, name: str, part: Any = None) -> None:
    """Save the whole page (or `part` of it) under $COBRIDGE_SCREENSHOTS, when it is set."""
    target = os.environ.get("COBRIDGE_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        path = str(Path(target) / f"{name}.png")
        if part is None:
            page.screenshot(path=path, full_page=True)
        else:
            part.screenshot(path=path)
