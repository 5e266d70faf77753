"""The secret box: AES-256-GCM sealing bound to a purpose, and the master key file rules."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from cloud.contract.secret_box import (
    SecretBox,
    SecretBoxError,
    load_or_create_master_key,
    master_key_from_env,
)

SECRET = b"-----BEGIN PRIVATE KEY-----\nsupersecretkeymaterial\n-----END PRIVATE KEY-----\n"
PURPOSE = "tenant-ca:tenant-a"


def _key() -> bytes:
    return os.urandom(32)


def _assert_no_leak(exc: BaseException) -> None:
    text = f"{exc}\n{exc!r}\n{getattr(exc, 'hint', '')}"
    assert "supersecret" not in text
    assert SECRET.decode() not in text


def test_round_trip_and_fresh_nonce_each_time() -> None:
    box = SecretBox(_key())
    first = box.seal(SECRET, purpose=PURPOSE)
    second = box.seal(SECRET, purpose=PURPOSE)
    assert first != second
    assert SECRET not in first
    assert box.open(first, purpose=PURPOSE) == SECRET
    assert box.open(second, purpose=PURPOSE) == SECRET
    assert box.open(box.seal(b"", purpose=PURPOSE), purpose=PURPOSE) == b""


@pytest.mark.parametrize("index", [0, 1, 5, 17, 30, -1])
def test_any_flipped_byte_is_detected(index: int) -> None:
    box = SecretBox(_key())
    sealed = bytearray(box.seal(SECRET, purpose=PURPOSE))
    sealed[index] ^= 0x01
    with pytest.raises(SecretBoxError) as caught:
        box.open(bytes(sealed), purpose=PURPOSE)
    assert caught.value.code.startswith("secret_box_")
    _assert_no_leak(caught.value)


def test_truncated_value_is_refused() -> None:
    box = SecretBox(_key())
    sealed = box.seal(SECRET, purpose=PURPOSE)
    for cut in (0, 5, 20, len(sealed) - 1):
        with pytest.raises(SecretBoxError, match=r"failed|truncated"):
            box.open(sealed[:cut], purpose=PURPOSE)


def test_value_moved_to_another_purpose_does_not_open() -> None:
    box = SecretBox(_key())
    sealed = box.seal(SECRET, purpose=PURPOSE)
    with pytest.raises(SecretBoxError) as caught:
        box.open(sealed, purpose="tenant-ca:tenant-b")
    assert caught.value.code == "secret_box_open_failed"
    _assert_no_leak(caught.value)


def test_wrong_key_is_refused_without_leaking() -> None:
    sealed = SecretBox(_key()).seal(SECRET, purpose=PURPOSE)
    with pytest.raises(SecretBoxError) as caught:
        SecretBox(_key()).open(sealed, purpose=PURPOSE)
    assert caught.value.code == "secret_box_unknown_key"
    _assert_no_leak(caught.value)


def test_rotation_reseals_under_the_new_key() -> None:
    old, new = _key(), _key()
    sealed = SecretBox(old).seal(SECRET, purpose=PURPOSE)
    box = SecretBox(new, previous_keys=[old])
    assert not box.is_current(sealed)
    assert box.open(sealed, purpose=PURPOSE) == SECRET
    rotated = box.rotate(sealed, purpose=PURPOSE)
    assert box.is_current(rotated)
    assert box.rotate(rotated, purpose=PURPOSE) == rotated
    assert SecretBox(new).open(rotated, purpose=PURPOSE) == SECRET
    with pytest.raises(SecretBoxError):
        SecretBox(old).open(rotated, purpose=PURPOSE)


def test_rotation_refuses_a_value_for_another_purpose() -> None:
    old, new = _key(), _key()
    sealed = SecretBox(old).seal(SECRET, purpose=PURPOSE)
    with pytest.raises(SecretBoxError):
        SecretBox(new, previous_keys=[old]).rotate(sealed, purpose="tenant-ca:other")


@pytest.mark.parametrize("bad", [b"", b"short", bytes(range(16)), bytes(range(33))], ids=len)
def test_keys_must_be_32_bytes(bad: bytes) -> None:
    with pytest.raises(SecretBoxError) as caught:
        SecretBox(bad)
    assert caught.value.code == "master_key_invalid"


def test_master_key_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    key = load_or_create_master_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_master_key(path) == key
    assert [p.name for p in path.parent.iterdir()] == ["master.key"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_master_key_file_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "master.key"
    load_or_create_master_key(path)
    path.chmod(mode)
    with pytest.raises(SecretBoxError) as caught:
        load_or_create_master_key(path)
    error = caught.value
    assert error.code == "master_key_insecure"
    assert str(path) in str(error)
    assert f"chmod 600 {path}" in str(error)
    assert path.read_text().strip() not in str(error)


def test_master_key_file_with_garbage_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_text("supersecret-not-base64!!\n")
    path.chmod(0o600)
    with pytest.raises(SecretBoxError) as caught:
        load_or_create_master_key(path)
    assert caught.value.code == "master_key_invalid"
    assert str(path) in str(caught.value)
    _assert_no_leak(caught.value)


def test_master_key_from_env_accepts_standard_and_urlsafe_base64() -> None:
    key = _key()
    assert master_key_from_env(base64.b64encode(key).decode()) == key
    assert master_key_from_env(base64.urlsafe_b64encode(key).decode() + "\n") == key


@pytest.mark.parametrize(
    "value",
    ["supersecret", base64.b64encode(b"supersecret").decode(), ""],
)
def test_master_key_from_env_rejects_bad_values_without_echoing_them(value: str) -> None:
    with pytest.raises(SecretBoxError) as caught:
        master_key_from_env(value)
    assert caught.value.code == "master_key_invalid"
    assert "supersecret" not in str(caught.value)
    if value:
        assert value not in str(caught.value)
