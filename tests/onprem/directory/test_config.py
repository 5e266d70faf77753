"""The directory adapter's configuration, cursor and error translation, without a DC."""

from __future__ import annotations

import ssl
import uuid
from pathlib import Path

import pytest
from ldap3.core import exceptions as lx
from pydantic import ValidationError

from onprem.directory import DcIdentity, DirectoryConfig, DirectoryCursor
from onprem.directory.connection import ldap_error_for
from onprem.directory.cursor import check_cursor
from onprem.directory.errors import translate
from onprem.errors import (
    DirectoryBaseNotFound,
    DirectoryBindRejected,
    DirectoryNotPermitted,
    DirectoryReadFailed,
    DirectoryRestored,
    DirectoryResyncRequired,
    DirectoryTlsRequired,
    DirectoryTlsUntrusted,
    DirectoryUnreachable,
)

PASSWORD = "Secret-Pa55-xyz"
BASE = "OU=Computers,DC=corp,DC=example,DC=com"


def config(**overrides: object) -> DirectoryConfig:
    values: dict[str, object] = {
        "hosts": ["dc1.corp.example.com"],
        "bind_dn": "CN=svc,CN=Users,DC=corp,DC=example,DC=com",
        "password": PASSWORD,
        "base_dns": [BASE],
    }
    return DirectoryConfig.model_validate(values | overrides)


def problem(**overrides: object) -> str:
    with pytest.raises(ValidationError) as caught:
        config(**overrides)
    errors = caught.value.errors()
    assert len(errors) == 1
    assert PASSWORD not in str(caught.value)
    return errors[0]["msg"]


def test_defaults_are_ldaps_dirsync_and_ads_page_limit() -> None:
    made = config()
    assert (made.tls, made.effective_port, made.tls_verify) == ("ldaps", 636, True)
    assert (made.delta, made.page_size, made.filter) == ("dirsync", 1000, "(objectClass=computer)")
    assert config(tls="starttls").effective_port == 389
    assert config(tls="plain", port=3389).effective_port == 3389
    assert PASSWORD not in repr(made)
    assert PASSWORD not in made.model_dump_json()


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"hosts": []}, "no domain controller"),
        ({"hosts": ["ldaps://dc1:636"]}, "not a host name"),
        ({"base_dns": []}, "no base DN"),
        ({"base_dns": ["Computers"]}, "not a distinguished name"),
        ({"base_dns": [BASE, f"OU=Kiosks,{BASE}"]}, "lies inside"),
        ({"base_dns": [BASE, BASE.upper()]}, "lies inside"),
        ({"filter": "objectClass=computer"}, "not an LDAP filter"),
        ({"filter": "(&(objectClass=computer)"}, "not an LDAP filter"),
        ({"filter": "(a=1))("}, "not an LDAP filter"),
        ({"page_size": 5000}, "less than or equal to 1000"),
    ],
)
def test_unusable_settings_are_refused_with_a_fix(overrides: dict[str, object], words: str) -> None:
    assert words in problem(**overrides)


def test_scope_changes_with_base_dns_and_filter_but_not_with_spelling() -> None:
    base = config().scope()
    assert config(base_dns=[" ou=computers, dc=corp,DC=example,DC=com"]).scope() == base
    assert config(base_dns=[f"OU=Kiosks,{BASE}"]).scope() != base
    assert config(filter="(objectCategory=computer)").scope() != base


IDENTITY = DcIdentity(
    server="dc1.corp.example.com",
    ds_service_name="CN=NTDS Settings,CN=DC1,CN=Servers,CN=Default,CN=Sites,CN=Configuration,DC=corp",
    invocation_id=uuid.UUID("259cd594-9f0c-4744-9711-80739e918ac4"),
    naming_context="DC=corp,DC=example,DC=com",
    highest_usn=6028,
)


def test_a_cursor_round_trips_through_json_with_its_cookie() -> None:
    cookie = b"MSDS\x03\x00\x00\x00\x80\xd0r;\xd1}\xdd\x01" + bytes(range(256))
    cursor = DirectoryCursor.at(IDENTITY, kind="dirsync", scope="s", cookie=cookie)
    text = cursor.to_json()
    assert "MSDS" not in text  # base64, not raw bytes
    again = DirectoryCursor.from_json(text)
    assert again == cursor
    assert again.cookie == cookie
    assert (again.invocation_id, again.highest_usn) == (IDENTITY.invocation_id, 6028)
    usn = DirectoryCursor.at(IDENTITY, kind="usn", scope="s")
    assert DirectoryCursor.from_json(usn.to_json().encode()) == usn


@pytest.mark.parametrize("text", ["", "{}", '{"version": 2}', "not json", '{"cookie": "%%%"}'])
def test_an_unreadable_cursor_asks_for_a_full_read(text: str) -> None:
    with pytest.raises(DirectoryResyncRequired):
        DirectoryCursor.from_json(text)


def test_a_cursor_fits_only_its_dc_incarnation_kind_and_scope() -> None:
    cursor = DirectoryCursor.at(IDENTITY, kind="usn", scope="s")
    check_cursor(cursor, IDENTITY.model_copy(update={"highest_usn": 7000}), kind="usn", scope="s")
    restored = IDENTITY.model_copy(update={"invocation_id": uuid.uuid4()})
    with pytest.raises(DirectoryRestored, match="restored"):
        check_cursor(cursor, restored, kind="usn", scope="s")
    rolled_back = IDENTITY.model_copy(update={"highest_usn": 6000})
    with pytest.raises(DirectoryRestored, match="rolled back"):
        check_cursor(cursor, rolled_back, kind="usn", scope="s")
    other = IDENTITY.model_copy(update={"ds_service_name": "CN=NTDS Settings,CN=DC2"})
    with pytest.raises(DirectoryResyncRequired, match="from domain controller") as caught:
        check_cursor(cursor, other, kind="usn", scope="s")
    assert not isinstance(caught.value, DirectoryRestored)
    with pytest.raises(DirectoryResyncRequired, match="delta is now dirsync"):
        check_cursor(cursor, IDENTITY, kind="dirsync", scope="s")
    with pytest.raises(DirectoryResyncRequired, match="base DNs or the filter"):
        check_cursor(cursor, IDENTITY, kind="usn", scope="t")


@pytest.mark.parametrize(
    ("exc", "during", "expected", "words"),
    [
        (
            lx.LDAPInvalidCredentialsResult(
                message="80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 52e, v1db1"
            ),
            "binding",
            DirectoryBindRejected,
            "the password is wrong",
        ),
        (
            lx.LDAPInvalidCredentialsResult(message="... data 775, v1db1"),
            "binding",
            DirectoryBindRejected,
            "locked out",
        ),
        (lx.LDAPStrongerAuthRequiredResult(), "binding", DirectoryTlsRequired, "encrypted"),
        (
            lx.LDAPSocketOpenError("socket ssl wrapping error: [SSL: CERTIFICATE_VERIFY_FAILED]"),
            "binding",
            DirectoryTlsUntrusted,
            "not trusted",
        ),
        (lx.LDAPCertificateError("doesn't match"), "binding", DirectoryTlsUntrusted, "not trusted"),
        (
            lx.LDAPSocketOpenError("socket connection error while opening: [Errno 111] refused"),
            "binding",
            DirectoryUnreachable,
            "cannot connect",
        ),
        (
            lx.LDAPSocketReceiveError("timed out"),
            "reading below X",
            DirectoryReadFailed,
            "timed out",
        ),
        (
            lx.LDAPInsufficientAccessRightsResult(),
            "reading",
            DirectoryNotPermitted,
            "lacks the right",
        ),
        (lx.LDAPSizeLimitExceededResult(), "reading", DirectoryReadFailed, "failed while"),
    ],
)
def test_ldap_errors_become_directory_errors_without_the_password(
    exc: lx.LDAPException, during: str, expected: type, words: str
) -> None:
    made = config(ca_file=Path("/etc/cobridge/ad-root.pem"))
    error = translate(exc, made, "dc1.corp.example.com", during)
    assert type(error) is expected
    assert words in error.message
    assert "dc1.corp.example.com:636" in error.message
    assert error.hint
    assert PASSWORD not in str(error)


def test_a_missing_base_dn_is_its_own_error() -> None:
    error = translate(
        lx.LDAPNoSuchObjectResult(), config(), "dc1", "checking", base=f"OU=Nope,{BASE}"
    )
    assert isinstance(error, DirectoryBaseNotFound)
    assert f"OU=Nope,{BASE}" in error.message
    assert "nothing will be deleted" in (error.hint or "")


def test_socket_and_tls_errors_that_escape_ldap3_are_translated_too() -> None:
    made = config()
    untrusted = ldap_error_for(ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED]"))
    assert isinstance(translate(untrusted, made, "dc1", "binding"), DirectoryTlsUntrusted)
    reset = ldap_error_for(ConnectionResetError(104, "Connection reset by peer"))
    assert isinstance(translate(reset, made, "dc1", "binding"), DirectoryUnreachable)
    assert isinstance(translate(reset, made, "dc1", "reading below X"), DirectoryReadFailed)
