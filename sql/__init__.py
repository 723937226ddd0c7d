"""The warehouse's SQL, shipped inside the wheel as the package `etl.sql`
(pyproject.toml maps this folder there); read with `etl.store.sql.load_sql`."""
