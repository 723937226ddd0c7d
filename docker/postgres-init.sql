-- The warehouse lives beside Airflow's metadata, in its own database.
CREATE DATABASE warehouse OWNER airflow;
