"""Daily Group Analytics: day D is the run's data_interval_start.

load_events -> attribute -> group_profiles -> user_profiles -> audit, each one
call into `etl.orchestration`. Profile tasks wait for the previous day's
success (profile state carries over). Storage errors are retried with
exponential back-off. The audit task publishes the daily Asset.
"""

from __future__ import annotations

import os

from airflow.sdk import DAG, Asset, CronDataIntervalTimetable, task

from etl.run.airflow import DAILY_ASSET, dag_defaults

TIMEZONE = os.environ.get("GROUP_ETL_TIMEZONE", "UTC")
DAILY = Asset(**DAILY_ASSET)

with DAG(
    dag_id="group_analytics_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=TIMEZONE),
    doc_md=__doc__,
    **dag_defaults(catchup=os.environ.get("GROUP_ETL_CATCHUP", "true").lower() != "false"),
):

    @task
    def load_events(data_interval_start=None):  # noqa: ANN001, ANN201
        from etl.run.airflow import run_task

        return run_task("load_events", data_interval_start)

    @task
    def attribute(data_interval_start=None):  # noqa: ANN001, ANN201
        from etl.run.airflow import run_task

        return run_task("attribute", data_interval_start)

    @task(depends_on_past=True)
    def group_profiles(data_interval_start=None):  # noqa: ANN001, ANN201
        from etl.run.airflow import run_task

        return run_task("group_profiles", data_interval_start)

    @task(depends_on_past=True)
    def user_profiles(data_interval_start=None):  # noqa: ANN001, ANN201
        from etl.run.airflow import run_task

        return run_task("user_profiles", data_interval_start)

    @task(outlets=[DAILY])
    def audit(data_interval_start=None, outlet_events=None):  # noqa: ANN001, ANN201
        from etl.run.airflow import publish_day, run_task

        summary = run_task("audit", data_interval_start)
        publish_day(outlet_events, DAILY, summary)
        return summary

    load_events() >> attribute() >> group_profiles() >> user_profiles() >> audit()
