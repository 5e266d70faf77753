"""Connecting to a real Samba AD DC: LDAPS, StartTLS, plain by opt-in, and every bind failure.

A failure is one clear directory error, raised before anything is yielded, so
a caller can never mistake it for "no computers" and delete; no message or
chained exception carries the password.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from onprem.directory import DirectoryConfig, DirectoryReader, DirectoryRecord
from onprem.errors import (
    DirectoryBindRejected,
    DirectoryError,
    DirectoryReadFailed,
    DirectoryTlsRequired,
    DirectoryTlsUntrusted,
    DirectoryUnreachable,
)
from tests.support.samba_dc import HOST, SERVICE_DN, SERVICE_PASSWORD, SambaDC, write_tls_files

pytest_plugins = ["tests.support.samba_dc"]
WRONG = "Not-The-Pa55word!"


@pytest.fixture
def dc(samba_dc: SambaDC) -> Iterator[SambaDC]:
    yield samba_dc.ensure(allow_plain=False)
    samba_dc.ensure(allow_plain=False)  # a test may have restarted or stopped it


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA that did not issue the DC's certificate."""
    return write_tls_files(tmp_path_factory.mktemp("other-ca"), name="someone else")


def failure(config: DirectoryConfig) -> DirectoryError:
    """The error a full read ends with; it must end before yielding anything."""
    read = DirectoryReader(config).read_full()
    items = []
    with pytest.raises(DirectoryError) as caught:
        items.extend(read)
    assert items == []
    with pytest.raises(DirectoryReadFailed):
        read.cursor  # noqa: B018
    error = caught.value
    for text in (str(error), repr(error), str(error.__cause__), repr(error.__cause__)):
        assert config.password.get_secret_value() not in text
    return error


def first_record(config: DirectoryConfig) -> DirectoryRecord:
    item = next(iter(DirectoryReader(config).read_full()))
    assert isinstance(item, DirectoryRecord)
    return item


def test_ldaps_verified_against_the_dcs_ca(dc: SambaDC, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "cobridge.directory"):
        assert first_record(dc.config()).object_guid
    assert caplog.records == []


def test_starttls_verified_against_the_dcs_ca(dc: SambaDC) -> None:
    assert first_record(dc.config(tls="starttls")).object_guid


def test_a_fractional_read_timeout_binds(dc: SambaDC) -> None:
    assert first_record(dc.config(read_timeout=2.5)).object_guid


def test_a_wrong_password_says_so(dc: SambaDC) -> None:
    error = failure(dc.config(password=WRONG))
    assert isinstance(error, DirectoryBindRejected)
    assert "the password is wrong" in error.message
    assert SERVICE_DN in error.message
    read = DirectoryReader(dc.config()).read_full()
    for _ in read:
        pass
    with pytest.raises(DirectoryBindRejected):
        DirectoryReader(dc.config(password=WRONG)).read_delta(read.cursor)


def test_a_dc_that_requires_tls_refuses_a_plain_bind(
    dc: SambaDC, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "cobridge.directory"):
        error = failure(dc.config(tls="plain"))
    assert isinstance(error, DirectoryTlsRequired)
    assert "ldaps" in (error.hint or "")
    assert "unencrypted" in caplog.text


def test_plain_ldap_works_only_when_configured_and_warns(
    dc: SambaDC, caplog: pytest.LogCaptureFixture
) -> None:
    dc.ensure(allow_plain=True)
    with caplog.at_level(logging.WARNING, "cobridge.directory"):
        assert first_record(dc.config(tls="plain", ca_file=None)).object_guid
    assert "plain LDAP is configured" in caplog.text


@pytest.mark.parametrize("tls", ["ldaps", "starttls"])
def test_a_certificate_from_another_ca_is_untrusted(dc: SambaDC, other_ca: Path, tls: str) -> None:
    error = failure(dc.config(tls=tls, ca_file=other_ca))
    assert isinstance(error, DirectoryTlsUntrusted)
    assert str(other_ca) in (error.hint or "")


def test_verification_can_be_turned_off_for_tests_with_a_warning(
    dc: SambaDC, other_ca: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "cobridge.directory"):
        assert first_record(dc.config(ca_file=other_ca, tls_verify=False)).object_guid
    assert "not checked" in caplog.text


def test_an_unreachable_dc_says_where_it_tried(dc: SambaDC) -> None:
    error = failure(dc.config(port=1, connect_timeout=2))
    assert isinstance(error, DirectoryUnreachable)
    assert f"{HOST}:1" in error.message
    dc.stop()
    error = failure(dc.config(connect_timeout=2))
    assert isinstance(error, DirectoryUnreachable)


def test_the_next_configured_dc_is_tried_when_one_is_unreachable(
    dc: SambaDC, caplog: pytest.LogCaptureFixture
) -> None:
    # Samba listens on 127.0.0.1 only: 127.0.0.2 refuses the connection.
    with caplog.at_level(logging.WARNING, "cobridge.directory"):
        assert first_record(dc.config(hosts=["127.0.0.2", HOST])).object_guid
    assert "127.0.0.2:636" in caplog.text


def test_a_dc_lost_in_the_middle_of_a_read_fails_the_read(dc: SambaDC) -> None:
    read = DirectoryReader(dc.config(page_size=100)).read_full()
    iterator = iter(read)
    got = [next(iterator) for _ in range(150)]
    assert all(isinstance(item, DirectoryRecord) for item in got)
    dc.stop()
    with pytest.raises(DirectoryError) as caught:
        for _ in iterator:
            pass
    assert isinstance(caught.value, DirectoryReadFailed | DirectoryUnreachable)
    assert SERVICE_PASSWORD not in str(caught.value)
    with pytest.raises(DirectoryReadFailed):
        read.cursor  # noqa: B018
