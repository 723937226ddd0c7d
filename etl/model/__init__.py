"""The model: the rules that turn loaded records into tables (dedupe, attribution,
hot shards, group keys, profile operations and history, uploads). Builds on ingest and store."""
