"""Loading a connector configuration written by a settings test, and its refusals.

Test modules load it with `pytest_plugins = ["tests.support.settings_files"]` for the
fixture that keeps COBRIDGE_CONNECTOR_* variables out of every test, and
call `load` and `problems`. PYTEST_DONT_REWRITE (it has no asserts to rewrite).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge.settings import ConfigError, ConnectorSettings


@pytest.fixture(autouse=True)
def _clean_connector_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("COBRIDGE_CONNECTOR_"):
            monkeypatch.delenv(name)


def load(tmp_path: Path, text: str) -> ConnectorSettings:
    """The settings of `text`, written to `connector.toml` under `tmp_path`."""
    path = tmp_path / "connector.toml"
    path.write_text(text, encoding="utf-8")
    return ConnectorSettings.load(path)


def problems(tmp_path: Path, text: str, *, secret: str) -> list[str]:
    """The problems a refused configuration names; `secret` must appear in none."""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    if secret in str(caught.value):
        raise AssertionError("the refusal shows the secret")
    if caught.value.__cause__ is not None:
        raise AssertionError("the refusal chains a library error")
    return caught.value.problems
