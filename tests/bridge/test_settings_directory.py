"""The connector's `[directory]` section: off by default, complete when on, the password secret."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bridge.settings import ConnectorSettings
from onprem.directory import DirectoryConfig
from tests.support.settings_files import load
from tests.support.settings_files import problems as config_problems

pytest_plugins = ["tests.support.settings_files"]
PASSWORD = "Ad-Svc-Pa55-9f3c"
BASE = """\
[site]
db = "site.db"
hierarchy_id = "contoso-ps1"
[cloud]
connector_url = "https://cloud.example.com:8444"
ca_file = "/etc/cobridge/root.pem"
"""
ENABLED = """
[directory]
enabled = true
hosts = ["dc1.corp.example.com", "dc2.corp.example.com"]
bind_dn = "svc-cobridge@corp.example.com"
base_dns = ["OU=Workstations,DC=corp,DC=example,DC=com"]
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    return config_problems(tmp_path, text, secret=PASSWORD)


def test_without_a_section_the_directory_is_off(tmp_path: Path) -> None:
    settings = load(tmp_path, BASE)
    assert settings.directory.enabled is False
    assert settings.summary()["directory"] == "off"
    with pytest.raises(ValueError, match="not enabled"):
        settings.directory.config()


def test_the_example_documents_the_section_and_loads_off(tmp_path: Path) -> None:
    text = ConnectorSettings.example_toml()
    section = tomllib.loads(text)["directory"]
    assert section["enabled"] is False
    assert "# password" in text
    assert "COBRIDGE_CONNECTOR_DIRECTORY__PASSWORD" in text
    settings = load(tmp_path, text)
    assert settings.directory.hosts == tuple(section["hosts"])
    assert settings.directory.base_dns == tuple(section["base_dns"])
    assert settings.directory.password is None


def test_an_enabled_section_maps_onto_the_adapters_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COBRIDGE_CONNECTOR_DIRECTORY__PASSWORD", PASSWORD)
    monkeypatch.setenv("COBRIDGE_CONNECTOR_DIRECTORY__DELTA", "usn")
    settings = load(tmp_path, BASE + ENABLED + 'tls = "starttls"\nca_file = "/etc/ad-ca.pem"\n')
    config = settings.directory.config()
    assert isinstance(config, DirectoryConfig)
    assert config.hosts == ("dc1.corp.example.com", "dc2.corp.example.com")
    assert (config.tls, config.effective_port, config.delta) == ("starttls", 389, "usn")
    assert config.ca_file == Path("/etc/ad-ca.pem")
    assert config.password.get_secret_value() == PASSWORD
    assert config.page_size == 1000
    shown = [repr(settings), settings.model_dump_json(), str(settings.summary()), repr(config)]
    assert not any(PASSWORD in text for text in shown)
    assert settings.summary()["directory"] == (
        "starttls dc1.corp.example.com, dc2.corp.example.com port 389 as "
        "svc-cobridge@corp.example.com, 1 base DN(s), usn deltas"
    )


def test_an_enabled_section_names_each_missing_key(tmp_path: Path) -> None:
    found = problems(tmp_path, BASE + "[directory]\nenabled = true\n")
    missing = [p for p in found if "missing, and the directory is enabled" in p]
    assert [p.split(":")[0] for p in missing] == [
        "directory.hosts",
        "directory.bind_dn",
        "directory.password",
        "directory.base_dns",
    ]
    assert all("under [directory]" in p for p in missing)


def test_bad_values_are_reported_with_a_fix_and_the_password_never_shown(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        BASE
        + "[directory]\n"
        + 'hosts = ["ldaps://dc1.corp.example.com"]\n'
        + 'base_dns = ["DC=corp,DC=com", "OU=PCs,DC=corp,DC=com"]\n'
        + 'filter = "objectClass=computer"\n'
        + 'tls = "ssl"\n'
        + "page_size = 5000\n"
        + f"password = [{PASSWORD!r}]\n"
        + 'base_dn = "OU=PCs,DC=corp,DC=com"\n',
    )
    text = "\n".join(found)
    assert "directory.hosts: 'ldaps://dc1.corp.example.com' is not a host name or address" in text
    assert "directory.base_dns: 'OU=PCs,DC=corp,DC=com' lies inside 'DC=corp,DC=com'" in text
    assert "directory.filter: 'objectClass=computer' is not an LDAP filter" in text
    assert "directory.tls: 'ssl' is not one of 'ldaps', 'starttls' or 'plain'" in text
    assert "directory.page_size: 5000 is above 1000 -> use at most 1000" in text
    assert any(p.startswith("directory.password:") for p in found)
    assert "directory.base_dn: unknown key -> did you mean directory.base_dns?" in text
