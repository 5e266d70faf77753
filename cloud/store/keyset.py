"""Keyset paging for the device list: the sort key, page statements and page tokens.

A page starts strictly after the last row of the previous page, compared on
(sort value, device_id) in the sort direction, so a deep page is an index seek
like the first (never OFFSET). Rows whose sort value is NULL come after all
others in both directions: they form a second segment, ordered by device_id
alone and read once the first is exhausted. Each segment is a plain index
range on (tenant_id, sort column, device_id), which NULLS LAST would not be on
PostgreSQL for a descending sort. Strings compare by code point on both
backends: SQLite's BINARY collation, COLLATE "C" on PostgreSQL.

A token is a position, not a credential: every statement is scoped by tenant
anyway, so its keyless checksum only guards against damage and edits, and its
scope digest against reuse with other filters, another sort or another tenant.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from cloud.contract.devices import SORTABLE
from cloud.store.device_view import QueryError
from cloud.store.schema import devices

SORT_COLUMNS: dict[str, sa.Column] = {
    "deviceName": devices.c.name_key,
    "lastActiveDateTime": devices.c.last_active_at,
    "osBuild": devices.c.os_build,
    "operatingSystem": devices.c.os_family,
    "managedBy": devices.c.managed_by,
    "siteCode": devices.c.site_code,
    "clientHealth": devices.c.health_evaluation,
    "coManagementFlags": devices.c.comanagement_flags,
    "lastSyncDateTime": devices.c.updated_at,
}
assert tuple(SORT_COLUMNS) == SORTABLE, "every sortable field needs its column"

_TOKEN_VERSION = 1
_CHECK_BYTES = 8
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_-]+")
_MAX_INT = 2**63 - 1

Collate = Callable[[sa.ColumnElement], sa.ColumnElement]


@dataclass(frozen=True)
class SortKey:
    """The column a list is ordered by and the direction; device_id breaks ties."""

    field: str
    column: sa.Column
    descending: bool

    @property
    def canonical(self) -> str:
        """The `$orderby` text this key stands for, in one spelling."""
        return f"{self.field} {'desc' if self.descending else 'asc'}"


@dataclass(frozen=True)
class Position:
    """The last row of a page: its sort value (None in the NULL segment) and id."""

    value: str | int | datetime | None
    device_id: str


def parse_orderby(text: str) -> SortKey:
    """The sort key of `$orderby`: one sortable field, optionally " asc" or " desc"."""
    parts = text.split()
    hint = f"use one of {', '.join(SORTABLE)}, optionally followed by asc or desc"
    if not parts or len(parts) > 2 or parts[0] not in SORT_COLUMNS:
        raise QueryError("$orderby", f"cannot sort by {text!r}", hint=hint)
    direction = parts[1].lower() if len(parts) == 2 else "asc"
    if direction not in ("asc", "desc"):
        raise QueryError("$orderby", f"unknown direction {parts[1]!r}", hint=hint)
    return SortKey(parts[0], SORT_COLUMNS[parts[0]], direction == "desc")


def code_point_collation(dialect_name: str) -> Collate:
    """Wraps string expressions so that they compare by code point on this backend."""
    if dialect_name != "postgresql":
        return lambda expr: expr

    def collate(expr: sa.ColumnElement) -> sa.ColumnElement:
        return expr.collate("C") if isinstance(expr.type, sa.String) else expr

    return collate


def page_statements(
    base: sa.Select, key: SortKey, after: Position | None, collate: Collate
) -> list[sa.Select]:
    """The statements that read, in order, the rows after `after` (limits left to the caller)."""
    ident = devices.c.device_id
    value, tie = collate(key.column), collate(ident)

    def order(expr: sa.ColumnElement) -> sa.ColumnElement:
        return expr.desc() if key.descending else expr.asc()

    def beyond(left: sa.ColumnElement, right: sa.ColumnElement) -> sa.ColumnElement:
        return left < right if key.descending else left > right

    statements = []
    if after is None or after.value is not None:
        stmt = base.order_by(order(value), order(tie))
        if key.column.nullable:
            stmt = stmt.where(key.column.is_not(None))
        if after is not None:
            stmt = stmt.where(
                beyond(
                    sa.tuple_(value, tie),
                    sa.tuple_(
                        sa.literal(after.value, key.column.type),
                        sa.literal(after.device_id, ident.type),
                    ),
                )
            )
        statements.append(stmt)
    if key.column.nullable:
        # Ordering by the (all NULL) value too lets PostgreSQL read the index in order:
        # it does not treat IS NULL as fixing the column, so order(tie) alone means a sort.
        stmt = base.where(key.column.is_(None)).order_by(order(value), order(tie))
        if after is not None and after.value is None:
            stmt = stmt.where(beyond(tie, sa.literal(after.device_id, ident.type)))
        statements.append(stmt)
    return statements


def position_of(key: SortKey, row: sa.RowMapping) -> Position:
    """The position of a row read by `page_statements`."""
    return Position(row[key.column.name], row["device_id"])


def query_scope(tenant_id: str, filters: dict[str, object], key: SortKey) -> str:
    """A digest of what a token is valid for: the tenant, the filters and the sort."""
    text = json.dumps([tenant_id, filters, key.canonical], sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=9).hexdigest()


def _checksum(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=_CHECK_BYTES, person=b"cobridge-keyset").digest()


def encode_token(scope: str, position: Position) -> str:
    """The opaque, URL-safe `$skiptoken` for the page after `position`."""
    value = position.value.isoformat() if isinstance(position.value, datetime) else position.value
    payload = [_TOKEN_VERSION, scope, value, position.device_id]
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(_checksum(raw) + raw).rstrip(b"=").decode("ascii")


def decode_token(token: str, scope: str, key: SortKey) -> Position:
    """The position `token` holds, after checking it is intact and belongs to this query."""
    restart = "request the first page again (without $skiptoken)"
    damaged = QueryError("$skiptoken", "the token is damaged or was not issued here", hint=restart)
    if not _TOKEN_CHARS.fullmatch(token):
        raise damaged
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise damaged from None
    check, raw = data[:_CHECK_BYTES], data[_CHECK_BYTES:]
    if len(check) != _CHECK_BYTES or not hmac.compare_digest(check, _checksum(raw)):
        raise damaged
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise damaged from None
    if not (isinstance(payload, list) and len(payload) == 4 and payload[0] == _TOKEN_VERSION):
        raise damaged
    _, token_scope, value, device_id = payload
    if token_scope != scope:
        raise QueryError(
            "$skiptoken",
            "the token belongs to another query (the filters or $orderby changed)",
            hint=restart,
        )
    if not _is_text(device_id, devices.c.device_id):
        raise damaged
    try:
        return Position(_sort_value(value, key.column), device_id)
    except (TypeError, ValueError):
        raise damaged from None


def _is_text(value: object, column: sa.Column) -> bool:
    return isinstance(value, str) and len(value) <= column.type.length and "\x00" not in value


def _sort_value(value: object, column: sa.Column) -> str | int | datetime | None:
    """`value` checked against the column's type, or TypeError/ValueError."""
    if value is None:
        if not column.nullable:
            raise ValueError("NULL position in a NOT NULL column")
        return None
    if isinstance(column.type, sa.DateTime):
        if not isinstance(value, str):
            raise TypeError("time expected")
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is not None:
            raise ValueError("stored times are naive UTC")
        return moment
    if isinstance(column.type, sa.Integer):
        if type(value) is not int or abs(value) > _MAX_INT:
            raise TypeError("integer expected")
        return value
    if not _is_text(value, column):
        raise TypeError("text expected")
    return value
