"""Answers of the system endpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Health(BaseModel):
    """The answer of GET /healthz: the service and its store answer."""

    model_config = ConfigDict(extra="allow", frozen=True)

    status: str
    store: str
    version: str
