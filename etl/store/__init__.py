"""Storage: settings-chosen warehouse (DuckDB or PostgreSQL), the lake, the in-process
columnar engine and the SQL files. Imports nothing else of etl but config and errors."""
