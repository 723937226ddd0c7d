"""Running: the stages of a day, declared once, and the functions Airflow tasks call."""
