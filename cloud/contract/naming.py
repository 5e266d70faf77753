"""Graph-style JSON naming: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    """A wire model: camelCase aliases, accepts either form, rejects unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    def wire(self) -> dict[str, object]:
        """The JSON-ready dict with wire names."""
        return self.model_dump(mode="json", by_alias=True)
