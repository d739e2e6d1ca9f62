"""One-time maintenance tasks done on this database, so that none runs twice.

A task that a migration cannot do (it needs the data key, which migrations never hold) runs
in the server's housekeeping, and its row here says it is done: every server sharing the
database then skips it.
"""

import sqlalchemy as sa

from incident_contacts.store.schema.base import Timestamp, metadata

maintenance_done = sa.Table(
    "maintenance_done",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("done_at", Timestamp, nullable=False),
)
