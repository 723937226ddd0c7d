"""Cohort exports: when a day of group_analytics_daily completes (its Asset),
write every cohort saved with "export": true to exports/<cohort>/dt=D/ for
every day loaded since its last export (kept in the warehouse, so no day is
missed whichever Asset events a run consumed).

Triggered by hand with conf {"day": "YYYY-MM-DD"}: that day only.
"""

from __future__ import annotations

from airflow.sdk import DAG, Asset, task

from etl.run.airflow import DAILY_ASSET, dag_defaults

with DAG(
    dag_id="cohort_exports",
    schedule=[Asset(**DAILY_ASSET)],
    doc_md=__doc__,
    **dag_defaults(),
):

    @task
    def export_cohorts(dag_run=None):  # noqa: ANN001, ANN201
        from etl.run.airflow import run_export_task

        return run_export_task(dag_run.conf if dag_run else None)

    export_cohorts()
