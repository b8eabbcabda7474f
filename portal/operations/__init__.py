"""Operations: the read-only lists behind the pages, Prometheus metrics, audit-log archival."""
