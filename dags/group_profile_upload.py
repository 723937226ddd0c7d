"""Applies CSV uploads of group profiles dropped under uploads/groups/<key>/.

Hourly, and on manual trigger; each file (by location and content) applies once.
"""

from __future__ import annotations

import os

from airflow.sdk import DAG, task

from etl.run.airflow import dag_defaults

with DAG(
    dag_id="group_profile_upload",
    schedule=os.environ.get("GROUP_ETL_UPLOAD_SCHEDULE", "@hourly"),
    doc_md=__doc__,
    **dag_defaults(),
):

    @task
    def apply_uploads():  # noqa: ANN201
        from etl.run.airflow import run_upload_task

        return run_upload_task()

    apply_uploads()
