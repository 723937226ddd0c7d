"""Cohort exports: when a day of group_analytics_daily completes (its Asset),
write every cohort saved with "export": true to exports/<cohort>/dt=D/.

Triggered by hand, give the day as conf {"day": "YYYY-MM-DD"}.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, Asset, task

from etl.orchestration import DAILY_ASSET, pool_for

with DAG(
    dag_id="cohort_exports",
    schedule=[Asset(**DAILY_ASSET)],
    start_date=datetime.fromisoformat(os.environ.get("GROUP_ETL_START_DATE", "2026-01-01")),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": int(os.environ.get("GROUP_ETL_TASK_RETRIES", "3")),
        "retry_delay": timedelta(seconds=float(os.environ.get("GROUP_ETL_RETRY_DELAY_SECONDS", "60"))),
        "retry_exponential_backoff": 2.0,
        "pool": pool_for(),
    },
    tags=["group-etl"],
    doc_md=__doc__,
):

    @task
    def export_cohorts(triggering_asset_events=None, dag_run=None):  # noqa: ANN001, ANN201
        from etl.orchestration import run_export_task

        return run_export_task(triggering_asset_events, dag_run.conf if dag_run else None)

    export_cohorts()
