"""Ingest: reading lake partitions into validated records (events, profile updates),
with a reason for every record that is rejected. Builds on etl.store."""
