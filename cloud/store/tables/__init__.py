"""The cloud store's tables, one module per area; `cloud.store.schema` gathers them."""
