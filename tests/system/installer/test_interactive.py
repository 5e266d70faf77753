"""The interactive install, driven through a pseudo-terminal as an admin would answer it.

The prompts come from the answers schema; a wrong answer is named with its
fix and asked again; secrets are typed without echo (the attach code never
appears on the terminal); the admin picks an RSA 3072 key; the install ends
with the heartbeat and the next steps.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from installer.layout import Layout
from tests.support.installer_pty import Terminal
from tests.support.installer_rig import Rig, files_holding
from tests.support.system_processes import COBRIDGE, clean_env

pytest_plugins = ["tests.support.installer_rig"]


def test_an_interactive_install_answers_every_prompt(rig: Rig, tmp_path: Path) -> None:
    layout = Layout(tmp_path / "prefix")
    code = rig.tenant.attach_code()
    terminal = Terminal(
        [COBRIDGE, "install", "--prefix", str(layout.prefix)], clean_env(COLUMNS="200")
    )
    try:
        terminal.expect("Site database (mssql://")
        terminal.send(rig.site_answer)
        terminal.expect("Site database password (empty: none needed):")
        terminal.send(rig.db_password or "")
        terminal.expect("Hierarchy id (empty: the one the site records):")
        terminal.send("")
        terminal.expect("Cloud connector URL (https://host:8444):")
        terminal.send("ftp://cobridge.example.com")
        terminal.expect("Cloud API and admin center URL (https://host:8443):")
        terminal.send(rig.service.api_url)
        terminal.expect("Service root certificate (PEM file):")
        terminal.send(str(rig.service.root_pem))
        terminal.expect("Attach code (empty when already enrolled):")
        terminal.send(code)
        terminal.expect("Key type (ec-p256, rsa-3072) [ec-p256]:")
        terminal.send("rsa-3072")
        # The section is checked as a whole; only the wrong answer is asked again.
        terminal.expect("cloud.connector_url: 'ftp://cobridge.example.com' is not an https:// URL")
        terminal.expect("Cloud connector URL (https://host:8444):")
        terminal.send(rig.service.connector_url)
        terminal.expect("Read computers from AD? [y/N]:")
        terminal.send("n")
        terminal.expect("Run actions on devices? [y/N]:")
        terminal.send("n")
        terminal.expect("Metrics address [127.0.0.1]:")
        terminal.send("")
        terminal.expect("Metrics port [9464]:")
        terminal.send("0")
        terminal.expect("Seconds to wait for the heartbeat [120]:")
        terminal.send("")
        table = terminal.expect("Write the files and enroll? [Y/n]:")
        assert "9 PASS, 2 SKIP" in table, table
        terminal.send("y")
        terminal.expect("enrolling with a new rsa-3072 key")
        terminal.expect("heartbeat received by the tenant")
        terminal.expect("Installed. Next steps:")
        terminal.expect(f"Open the admin center: {rig.service.api_url}/")
        assert terminal.wait() == 0, terminal.transcript[-3000:]
    finally:
        terminal.kill()
    secrets = [s for s in (code, rig.db_password) if s]
    assert [s for s in secrets if s in terminal.transcript] == []
    assert files_holding(layout.prefix, secrets) == []
    key_pem = (layout.data_dir / "connector.key").read_bytes()
    key = serialization.load_pem_private_key(key_pem, None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 3072
    assert (layout.data_dir / "connector.key").stat().st_mode & 0o777 == 0o600
