"""The test suite's own rules: system tests marked by where they live, no test module imports another."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.suite_layout import (
    SYSTEM_ROOT,
    TESTS_ROOT,
    is_system_test,
    modules_importing_test_modules,
)


def test_modules_under_tests_system_are_system_tests() -> None:
    assert is_system_test(SYSTEM_ROOT / "test_x.py")
    assert is_system_test(SYSTEM_ROOT / "browser" / "test_x.py")
    assert not is_system_test(TESTS_ROOT / "test_x.py")
    assert not is_system_test(TESTS_ROOT / "cloud" / "test_system.py")


def test_every_collected_system_test_carries_the_marker(request: pytest.FixtureRequest) -> None:
    for item in request.session.items:
        marked = item.get_closest_marker("system") is not None
        assert marked == is_system_test(Path(item.path)), item.nodeid


def test_no_test_module_imports_another(tmp_path: Path) -> None:
    assert modules_importing_test_modules() == {}
    # The scan finds both spellings of such an import.
    (tmp_path / "test_a.py").write_text("from tests.test_b import world\n")
    (tmp_path / "test_c.py").write_text("from tests import test_b\n")
    (tmp_path / "test_b.py").write_text("from tests.support.paths import REPO_ROOT\n")
    assert modules_importing_test_modules(tmp_path) == {
        "test_a.py": ["tests.test_b"],
        "test_c.py": ["tests.test_b"],
    }
