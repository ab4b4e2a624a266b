"""Claims through the storage: work several processes could each start, taken by one.

Optuna hands a queued trial to one worker: its state moves from WAITING to RUNNING under the
storage's lock. mmtune has other work that several workers of one study (``--workers N``, or
processes on other machines) could each start at the same moment: queuing a new study's
starting points, and each re-evaluation of the finalists' race. Each is claimed the same way,
once, through the same database: a row of mmtune's own table ``mmtune_claims`` whose key
(study, claim) is unique, so of several processes inserting the same claim exactly one
succeeds, on SQLite as on PostgreSQL. A claim records its owner and when it last showed it
was alive (:meth:`Claims.beat`), so others can tell a claim being worked on from one whose
process died.

>>> claims = Claims(study, owner="host:123:456")     # doctest: +SKIP
>>> claims.take("starting-points")                    # doctest: +SKIP
True
>>> claims.take("starting-points")                    # doctest: +SKIP
False
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    import sqlalchemy

__all__ = ["Claim", "Claims", "TABLE"]

TABLE = "mmtune_claims"
_KEY_CHARS = 255


@dataclass(frozen=True)
class Claim:
    """A claim as the storage holds it: its key, owner, and when it was taken and last beat
    (seconds since the epoch, by the owner's clock)."""

    key: str
    owner: str
    taken_at: float
    beat_at: float


def _table(metadata: sqlalchemy.MetaData) -> sqlalchemy.Table:
    import sqlalchemy as sa

    return sa.Table(
        TABLE,
        metadata,
        sa.Column("study_id", sa.Integer, primary_key=True),
        sa.Column("claim", sa.String(_KEY_CHARS), primary_key=True),
        sa.Column("owner", sa.String(_KEY_CHARS), nullable=False),
        sa.Column("taken_at", sa.Float, nullable=False),
        sa.Column("beat_at", sa.Float, nullable=False),
    )


class Claims:
    """The claims of one study in its storage (an Optuna RDB storage: SQLite, PostgreSQL)."""

    def __init__(self, study: optuna.Study, owner: str) -> None:
        import sqlalchemy as sa

        storage: Any = study._storage
        storage = getattr(storage, "_backend", storage)  # Optuna's cache around its RDB storage
        engine = getattr(storage, "engine", None)
        if engine is None:
            raise TypeError(
                f"Expected an Optuna RDB storage (SQLite, PostgreSQL) to hold claims. "
                f"Received: {type(storage).__name__}"
            )
        self.engine: sqlalchemy.engine.Engine = engine
        self.study_id = int(study._study_id)
        self.owner = owner[:_KEY_CHARS]
        self.table = _table(sa.MetaData())
        self._create_table()

    def _create_table(self, attempts: int = 5) -> None:
        """Create the table once per database; another process creating it at the same
        moment makes this one's ``CREATE`` fail, after which it is there."""
        import sqlalchemy.exc

        for attempt in range(attempts):
            try:
                self.table.create(self.engine, checkfirst=True)
                return
            except sqlalchemy.exc.DatabaseError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.1 * (attempt + 1))

    def take(self, key: str) -> bool:
        """Claim ``key`` for this owner; False when another process holds it already."""
        import sqlalchemy.exc

        now = time.time()
        row = {
            "study_id": self.study_id,
            "claim": key[:_KEY_CHARS],
            "owner": self.owner,
            "taken_at": now,
            "beat_at": now,
        }
        try:
            with self.engine.begin() as connection:
                connection.execute(self.table.insert().values(**row))
        except sqlalchemy.exc.IntegrityError:  # the key is taken: someone else's claim
            return False
        return True

    def release(self, key: str) -> None:
        """Give ``key`` back (only this owner's claim): its work was not done."""
        t = self.table
        with self.engine.begin() as connection:
            connection.execute(
                t.delete().where(
                    (t.c.study_id == self.study_id) & (t.c.claim == key) & (t.c.owner == self.owner)
                )
            )

    def beat(self, key: str) -> None:
        """Say this owner is still working on ``key``."""
        t = self.table
        with self.engine.begin() as connection:
            connection.execute(
                t.update()
                .where(
                    (t.c.study_id == self.study_id) & (t.c.claim == key) & (t.c.owner == self.owner)
                )
                .values(beat_at=time.time())
            )

    def held(self, prefix: str = "") -> list[Claim]:
        """The study's claims whose key starts with ``prefix``."""
        t = self.table
        query = t.select().where(t.c.study_id == self.study_id)
        if prefix:
            query = query.where(t.c.claim.startswith(prefix, autoescape=True))
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [Claim(r["claim"], r["owner"], r["taken_at"], r["beat_at"]) for r in rows]
