"""Settings of the cloud tenant service, from arguments and COBRIDGE_CLOUD_* variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class CloudSettings(BaseSettings):
    """Everything `cobridge cloud serve` can be told; validated with the key named on error."""

    model_config = SettingsConfigDict(env_prefix="COBRIDGE_CLOUD_", extra="forbid")

    data_dir: Path = Path("data/cloud")
    db: str | None = Field(
        default=None, description="postgresql://... (default: SQLite in data_dir)"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8443, ge=0, le=65535)
    connector_port: int = Field(default=8444, ge=0, le=65535)
    server_names: list[str] = Field(default_factory=lambda: ["localhost", "127.0.0.1"])
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    master_key: SecretStr | None = Field(
        default=None, description="base64 32-byte key; default data_dir/master.key"
    )
    max_body_mb: int = Field(default=32, ge=1, le=512)
    connector_rate_per_minute: int = Field(default=0, ge=0, description="0 = unlimited")
    detach_retention_days: int = Field(default=7, ge=0, le=365)
    certificate_days: int = Field(default=90, ge=1, le=397)
