"""The uploader lease of an active/standby connector pair (DESIGN.md section 13).

One row per lease, changed only by conditional statements, so the database
decides every race: on PostgreSQL a concurrent UPDATE waits for the row lock
and re-checks its condition on the row it then sees; on SQLite writers are
serialised by the write lock (BEGIN IMMEDIATE). No consensus of our own.

Times are the caller's: a holder's clock writes the expiry that a standby's
clock compares against, so a TTL must be much longer than the clock skew
between the two hosts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from bridge.state.schema import leases
from bridge.state.scope import Scope, from_db, insert_for, to_db

UPLOADER = "uploader"


@dataclass(frozen=True)
class LeaseInfo:
    """Who holds a lease until when; `token` grows with every change of holder."""

    name: str
    holder: str | None
    token: int
    acquired_at: datetime | None
    expires_at: datetime | None

    def held_by(self, holder: str, now: datetime) -> bool:
        """Whether `holder` holds the lease at `now`."""
        return (
            self.holder == holder
            and self.expires_at is not None
            and from_db(to_db(now)) < self.expires_at
        )


class Lease:
    """A named lease in the state database: acquire, renew, release, inspect."""

    def __init__(self, scope: Scope, name: str = UPLOADER) -> None:
        self._scope = scope
        self._name = name

    def try_acquire(self, holder: str, ttl: timedelta, *, now: datetime) -> bool:
        """Take the lease if it is free, expired or already ours; whether we hold it now."""
        expires = to_db(now + ttl)
        with self._scope.write("acquiring the lease") as conn:
            created = conn.execute(
                insert_for(self._scope, leases)
                .values(
                    name=self._name,
                    holder=holder,
                    token=1,
                    acquired_at=to_db(now),
                    expires_at=expires,
                )
                .on_conflict_do_nothing(index_elements=["name"])
                # RETURNING, not rowcount: drivers disagree on a skipped insert's count.
                .returning(leases.c.name)
            ).first()
            if created is not None:
                return True
            ours = leases.c.holder == holder
            taken = conn.execute(
                leases.update()
                .where(
                    leases.c.name == self._name,
                    sa.or_(ours, leases.c.holder.is_(None), leases.c.expires_at <= to_db(now)),
                )
                .values(
                    holder=holder,
                    expires_at=expires,
                    # A new holder bumps the token; the same holder keeps it.
                    token=sa.case((ours, leases.c.token), else_=leases.c.token + 1),
                    acquired_at=sa.case((ours, leases.c.acquired_at), else_=to_db(now)),
                )
            ).rowcount
            return bool(taken)

    def take_over(self, previous: str, holder: str, ttl: timedelta, *, now: datetime) -> bool:
        """Take the lease from `previous` (known to be gone) if it still holds it; whether taken.

        A compare-and-swap on the holder: of two processes taking over the same
        dead holder, one wins.
        """
        with self._scope.write("taking over the lease") as conn:
            return bool(
                conn.execute(
                    leases.update()
                    .where(leases.c.name == self._name, leases.c.holder == previous)
                    .values(
                        holder=holder,
                        expires_at=to_db(now + ttl),
                        token=leases.c.token + 1,
                        acquired_at=to_db(now),
                    )
                ).rowcount
            )

    def renew(self, holder: str, ttl: timedelta, *, now: datetime) -> bool:
        """Extend our unexpired lease; False if it expired or is someone else's.

        A holder that fails to renew must stop uploading: another may hold it now.
        """
        with self._scope.write("renewing the lease") as conn:
            return bool(
                conn.execute(
                    leases.update()
                    .where(
                        leases.c.name == self._name,
                        leases.c.holder == holder,
                        leases.c.expires_at > to_db(now),
                    )
                    .values(expires_at=to_db(now + ttl))
                ).rowcount
            )

    def release(self, holder: str) -> bool:
        """Give the lease up (on a clean stop) so the standby need not wait for the expiry."""
        with self._scope.write("releasing the lease") as conn:
            return bool(
                conn.execute(
                    leases.update()
                    .where(leases.c.name == self._name, leases.c.holder == holder)
                    .values(holder=None, expires_at=None)
                ).rowcount
            )

    def current(self) -> LeaseInfo | None:
        """The lease as stored, or None before anyone ever took it."""
        with self._scope.read("reading the lease") as conn:
            row = conn.execute(sa.select(leases).where(leases.c.name == self._name)).first()
        if row is None:
            return None
        return LeaseInfo(
            row.name, row.holder, row.token, from_db(row.acquired_at), from_db(row.expires_at)
        )
