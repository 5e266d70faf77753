"""Secrets at rest: `secret:NAME` references in the connector's settings, the store, rotation.

The connector loads its own secrets (`ConnectorSettings.load` resolves the
references from `secrets.enc` beside the file, opened with `master.key`);
every failure names the key and the fix and never the value.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from bridge.settings import ConfigError, ConnectorSettings
from bridge.settings_secrets import SecretStore, SecretStoreError
from cloud.contract.secret_box import SecretBox, load_or_create_master_key

URL = "postgresql://reader:Site-Pa55@sql01.corp.example.com/CM_PS1"
DIR_PASSWORD = "Dir-Pa55-word"


def write_config(directory: Path, *, extra: str = "") -> Path:
    config = directory / "connector.toml"
    config.write_text(
        f'data_dir = "{directory / "data"}"\n[site]\ndb = "secret:site_db"\nhierarchy_id = "h1"\n'
        '[cloud]\nconnector_url = "https://c.example.com:8444"\nca_file = "/etc/ca.pem"\n'
        f"{extra}"
    )
    return config


def problems(config: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        ConnectorSettings.load(config)
    for secret in (URL, "Site-Pa55", DIR_PASSWORD):
        assert secret not in str(caught.value)
    return caught.value.problems


def test_references_resolve_from_the_encrypted_store(tmp_path: Path) -> None:
    store = SecretStore(tmp_path)
    assert store.set_many({"site_db": URL, "directory_password": DIR_PASSWORD}) == [
        "site_db",
        "directory_password",
    ]
    directory = (
        '[directory]\nenabled = true\nhosts = ["dc1.corp.example.com"]\n'
        'bind_dn = "CN=svc,DC=corp,DC=example,DC=com"\npassword = "secret:directory_password"\n'
        'base_dns = ["OU=Fleet,DC=corp,DC=example,DC=com"]\n'
    )
    settings = ConnectorSettings.load(write_config(tmp_path, extra=directory))
    assert settings.site.db.get_secret_value() == URL
    assert settings.directory.password is not None
    assert settings.directory.password.get_secret_value() == DIR_PASSWORD
    for path in tmp_path.iterdir():
        assert b"Site-Pa55" not in path.read_bytes()
        assert DIR_PASSWORD.encode() not in path.read_bytes()
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "secrets.enc").stat().st_mode & 0o777 == 0o600


def test_setting_the_same_value_again_writes_nothing(tmp_path: Path) -> None:
    store = SecretStore(tmp_path)
    store.set_many({"site_db": URL})
    sealed = store.path.read_bytes()
    assert store.set_many({"site_db": URL}) == []
    assert store.path.read_bytes() == sealed
    assert store.set_many({"site_db": URL + "x"}) == ["site_db"]


def test_a_missing_secret_names_the_key_and_the_command(tmp_path: Path) -> None:
    SecretStore(tmp_path).set_many({"other": "x"})
    (line,) = problems(write_config(tmp_path))
    assert line.startswith("site.db: secret 'site_db' is not in ")
    assert line.endswith("-> set it with `cobridge secrets set site_db`")


def test_a_missing_master_key_names_the_file(tmp_path: Path) -> None:
    SecretStore(tmp_path).set_many({"site_db": URL})
    (tmp_path / "master.key").unlink()
    (line,) = problems(write_config(tmp_path))
    assert f"the master key {tmp_path / 'master.key'} does not exist" in line
    assert "restore it from your backup" in line


def test_a_readable_master_key_is_refused(tmp_path: Path) -> None:
    SecretStore(tmp_path).set_many({"site_db": URL})
    (tmp_path / "master.key").chmod(0o644)
    (line,) = problems(write_config(tmp_path))
    assert "accessible by group or others" in line
    assert f"chmod 600 {tmp_path / 'master.key'}" in line


def test_a_secret_moved_under_another_name_does_not_open(tmp_path: Path) -> None:
    store = SecretStore(tmp_path)
    store.set_many({"site_db": URL, "winrm_password": "Winrm-Pa55"})
    document = json.loads(store.path.read_text())
    document["secrets"]["site_db"] = document["secrets"]["winrm_password"]
    store.path.write_text(json.dumps(document))
    (line,) = problems(write_config(tmp_path))
    assert line.startswith("site.db: secret 'site_db' in ")
    assert "failed authentication" in line
    assert "Winrm-Pa55" not in line


def test_only_secret_keys_may_hold_a_reference(tmp_path: Path) -> None:
    SecretStore(tmp_path).set_many({"site_db": URL})
    config = write_config(tmp_path)
    config.write_text(
        config.read_text().replace('hierarchy_id = "h1"', 'hierarchy_id = "secret:x"')
    )
    (line,) = problems(config)
    assert line.startswith("site.hierarchy_id: holds a secret reference, which only ")
    assert line.endswith("-> write the value itself")


def test_rotation_reseals_everything_and_survives_an_interruption(tmp_path: Path) -> None:
    store = SecretStore(tmp_path)
    store.set_many({"site_db": URL, "directory_password": DIR_PASSWORD})
    old_key = store.key_path.read_bytes()
    store.rotate_master_key()
    assert store.key_path.read_bytes() != old_key
    assert store.get("site_db") == URL
    # Interrupted after re-sealing, before the new key replaced the old one.
    next_key = load_or_create_master_key(store.next_key_path)
    current = load_or_create_master_key(store.key_path)
    box = SecretBox(next_key, previous_keys=[current])
    document = json.loads(store.path.read_text())
    for name in ("site_db", "directory_password"):
        sealed = base64.b64decode(document["secrets"][name])
        resealed = box.rotate(sealed, purpose=f"connector-secret:{name}")
        document["secrets"][name] = base64.b64encode(resealed).decode()
    store.path.write_text(json.dumps(document))
    assert store.get("directory_password") == DIR_PASSWORD  # both keys are tried
    store.rotate_master_key()  # finishes the interrupted rotation
    assert not store.next_key_path.exists()
    assert store.get("site_db") == URL
    with pytest.raises(SecretStoreError):
        SecretStore(tmp_path / "elsewhere").get("site_db")
