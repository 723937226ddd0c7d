"""Applies CSV uploads of group profiles dropped under uploads/groups/<key>/.

Hourly, and on manual trigger; each file (by location and content) applies once.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from etl.orchestration import pool_for

with DAG(
    dag_id="group_profile_upload",
    schedule=os.environ.get("GROUP_ETL_UPLOAD_SCHEDULE", "@hourly"),
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
    def apply_uploads():  # noqa: ANN201
        from etl.orchestration import run_upload_task

        return run_upload_task()

    apply_uploads()
