"""The cloud tenant service's store: schema, migrations and repositories.

Every table's key starts with `tenant_id` (DESIGN.md section 4), so every
query is scoped by tenant and the tables can be distributed by tenant.
"""
