"""The connector's `[actions]` section: off by default, safe transports, the password secret."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bridge.actions import RelayOptions
from bridge.settings import ConnectorSettings
from bridge.settings_secrets import SecretStore
from onprem.winrm import WinRMClient, WinRMConfig
from tests.support.settings_files import load
from tests.support.settings_files import problems as config_problems

pytest_plugins = ["tests.support.settings_files"]
PASSWORD = "Winrm-Svc-Pa55-41ab"
BASE = """\
[site]
db = "site.db"
hierarchy_id = "contoso-ps1"
[cloud]
connector_url = "https://cloud.example.com:8444"
ca_file = "/etc/cobridge/root.pem"
"""
ENABLED = """
[actions]
enabled = true
username = "CORP\\\\svc-cobridge"
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    return config_problems(tmp_path, text, secret=PASSWORD)


def test_without_a_section_actions_are_off(tmp_path: Path) -> None:
    settings = load(tmp_path, BASE)
    assert settings.actions.enabled is False
    assert settings.summary()["actions"] == "off"
    with pytest.raises(ValueError, match="not enabled"):
        settings.actions.winrm_config()


def test_the_example_documents_the_section_and_loads_off(tmp_path: Path) -> None:
    text = ConnectorSettings.example_toml()
    section = tomllib.loads(text)["actions"]
    assert section["enabled"] is False
    assert section["transport"] == "https"
    assert '# password = "secret:winrm_password"' in text
    settings = load(tmp_path, text)
    assert settings.actions.device_concurrency == 1
    assert settings.actions.global_concurrency == 8


def test_an_enabled_section_from_a_secret_reference_maps_onto_the_adapter(tmp_path: Path) -> None:
    SecretStore(tmp_path).set_many({"winrm_password": PASSWORD})
    text = BASE + ENABLED + 'password = "secret:winrm_password"\nca_file = "/etc/winrm-ca.pem"\n'
    settings = load(tmp_path, text)
    config = settings.actions.winrm_config()
    assert isinstance(config, WinRMConfig)
    assert config.password is not None
    assert config.password.get_secret_value() == PASSWORD
    assert (config.transport, config.effective_port, config.auth) == ("https", 5986, "ntlm")
    assert config.ca_file == Path("/etc/winrm-ca.pem")
    assert config.validate_certs is True
    assert PASSWORD not in repr(settings) + str(settings.summary())
    assert settings.summary()["actions"] == (
        "https port 5986, ntlm as CORP\\svc-cobridge, certificates validated; "
        "1 per device, 8 at once"
    )
    transport = WinRMClient(config).protocol("pc1.corp.example.com").transport
    assert transport.server_cert_validation == "validate"
    assert transport.ca_trust_path == "/etc/winrm-ca.pem"


def test_limits_and_timeouts_reach_the_relay_and_the_adapter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COBRIDGE_CONNECTOR_ACTIONS__PASSWORD", PASSWORD)
    monkeypatch.setenv("COBRIDGE_CONNECTOR_ACTIONS__GLOBAL_CONCURRENCY", "32")
    text = (
        BASE
        + ENABLED
        + (
            "device_concurrency = 2\nretry_attempts = 5\npoll_wait_seconds = 20\n"
            "operation_timeout = 40\nread_timeout = 60\ncommand_timeout = 900\n"
            "max_output_bytes = 4096\n"
        )
    )
    actions = load(tmp_path, text).actions
    assert actions.relay_options() == RelayOptions(
        device_concurrency=2, global_concurrency=32, retry_attempts=5, poll_wait_seconds=20
    )
    config = actions.winrm_config()
    assert (config.operation_timeout, config.read_timeout) == (40, 60)
    assert (config.command_timeout, config.max_output_bytes) == (900, 4096)


def test_missing_credentials_are_named_with_the_fix(tmp_path: Path) -> None:
    found = problems(tmp_path, BASE + "[actions]\nenabled = true\n")
    assert any(p.startswith("actions.username: missing") for p in found), found
    [password] = [p for p in found if p.startswith("actions.password")]
    assert 'password = "secret:winrm_password"' in password
    assert "cobridge secrets set winrm_password" in password


def test_basic_over_plain_http_is_refused_by_name(tmp_path: Path) -> None:
    text = BASE + ENABLED + f'password = "{PASSWORD}"\ntransport = "http"\nauth = "basic"\n'
    [problem] = problems(tmp_path, text)
    assert problem.startswith("actions.auth: basic authentication over plain http")
    assert 'use transport = "https"' in problem


def test_ntlm_over_http_is_accepted_with_message_encryption(tmp_path: Path) -> None:
    text = BASE + ENABLED + f'password = "{PASSWORD}"\ntransport = "http"\n'
    config = load(tmp_path, text).actions.winrm_config()
    assert (config.effective_port, config.message_encryption) == (5985, "always")


def test_the_read_timeout_must_outlast_the_operation_timeout(tmp_path: Path) -> None:
    text = BASE + ENABLED + f'password = "{PASSWORD}"\noperation_timeout = 30\nread_timeout = 25\n'
    [problem] = problems(tmp_path, text)
    assert problem.startswith("actions.read_timeout: 25 is not above operation_timeout (30)")
    assert "set read_timeout to at least 40" in problem


def test_device_concurrency_cannot_exceed_the_global_limit(tmp_path: Path) -> None:
    text = BASE + "[actions]\ndevice_concurrency = 4\nglobal_concurrency = 2\n"
    [problem] = problems(tmp_path, text)
    assert problem.startswith("actions.global_concurrency: 2 is below device_concurrency (4)")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('transport = "winrs"', "actions.transport: 'winrs' is not one of"),
        ('auth = "credssp"', "actions.auth: 'credssp' is not one of"),
        ("port = 70000", "actions.port: 70000 is above 65535"),
        ("global_concurrency = 0", "actions.global_concurrency: 0 is below 1"),
        ("retry_attempts = 0", "actions.retry_attempts: 0 is below 1"),
        ("max_output_bytes = -1", "actions.max_output_bytes: -1 is below 0"),
        ("validate_cert = false", "actions.validate_cert: unknown key -> did you mean"),
    ],
)
def test_a_bad_value_names_its_key(tmp_path: Path, line: str, expected: str) -> None:
    found = problems(tmp_path, BASE + f"[actions]\n{line}\n")
    assert any(p.startswith(expected) for p in found), found


def test_a_wrong_password_type_never_echoes_it(tmp_path: Path) -> None:
    found = problems(tmp_path, BASE + ENABLED + "password = 12345678\n")
    [problem] = [p for p in found if p.startswith("actions.password")]
    assert "12345678" not in problem


def test_kerberos_without_its_library_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bridge.settings_actions.kerberos_available", lambda: False)
    [problem] = problems(tmp_path, BASE + '[actions]\nenabled = true\nauth = "kerberos"\n')
    assert problem.startswith("actions.auth: kerberos needs a Kerberos library")
    assert 'auth = "ntlm"' in problem
    monkeypatch.setattr("bridge.settings_actions.kerberos_available", lambda: True)
    config = load(tmp_path, BASE + '[actions]\nenabled = true\nauth = "kerberos"\n').actions
    # Kerberos takes its credential from the ticket cache: no password needed.
    assert config.winrm_config().password is None
