"""Pure domain rules: no Flask, SQLAlchemy, Redis or RQ imports here."""
