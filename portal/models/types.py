"""Column types shared by the models."""

from sqlalchemy import JSON, Numeric
from sqlalchemy.dialects.postgresql import JSONB

JsonDocument = JSON().with_variant(JSONB(), "postgresql")
# Hours are exact decimals with two places: 1.50 hours, never a float.
Hours = Numeric(6, 2, asdecimal=True)
HourTotal = Numeric(10, 2, asdecimal=True)
Rate = Numeric(7, 2, asdecimal=True)
