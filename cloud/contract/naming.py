"""Graph-style JSON naming: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    """A wire model: camelCase aliases, accepts either form, rejects unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    @model_validator(mode="after")
    def _no_nul(self) -> Any:
        # No store can keep NUL in text (PostgreSQL refuses it): refuse it here,
        # for every field of every wire model, so no backend ever sees one.
        # Plain loops and exact type tests: this runs for every record of every batch.
        for name, value in self.__dict__.items():
            kind = value.__class__
            if kind is str:
                if "\x00" in value:
                    raise ValueError(f"{name} contains a NUL character")
            elif kind is list:
                for item in value:
                    if item.__class__ is str and "\x00" in item:
                        raise ValueError(f"{name} contains a NUL character")
        return self

    def wire(self) -> dict[str, object]:
        """The JSON-ready dict with wire names."""
        return self.model_dump(mode="json", by_alias=True)


class CamelResponse(CamelModel):
    """A model the service answers with: unknown fields are ignored, not refused.

    Requests stay strict (a typo in a request is an error); answers may grow
    fields in a later version without breaking an older client.
    """

    model_config = ConfigDict(extra="ignore")
