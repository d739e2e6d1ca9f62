"""The one MetaData every table module registers on."""

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Epoch seconds with a fraction: what the wire carries. Float(53) is a double everywhere.
Timestamp = sa.Float(precision=53)
