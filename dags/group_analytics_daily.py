"""Daily Group Analytics: day D is the run's data_interval_start.

wait_for_dump -> run_day -> audit. `wait_for_dump` waits (reschedule mode: no
worker slot held) until D has landed in the lake (an object under events/dt=D/,
or its landing marker with GROUP_ETL_LANDING_MARKER), and fails after GROUP_ETL_LANDING_TIMEOUT_SECONDS.
`run_day` runs every stage of D (load events, attribute,
group profiles, user profiles) through the same `etl.run.day.run_day` as
`group-etl run`, in one transaction: a reader sees day D whole or not at all.
It waits for the previous day's success (profile state carries over). Storage
errors are retried with exponential back-off. `audit` checks that every stage
of D ran and nothing was lost, then publishes the daily Asset.
"""

from __future__ import annotations

import os

from airflow.sdk import DAG, Asset, CronDataIntervalTimetable, task

from etl.run.airflow import DAILY_ASSET, dag_defaults, landing_sensor_args, project_timezone

TIMEZONE = project_timezone()
DAILY = Asset(**DAILY_ASSET)

with DAG(
    dag_id="group_analytics_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=TIMEZONE),
    doc_md=__doc__,
    **dag_defaults(catchup=os.environ.get("GROUP_ETL_CATCHUP", "true").lower() != "false", paused=True),
):

    @task.sensor(**landing_sensor_args())
    def wait_for_dump(data_interval_start=None):  # noqa: ANN001, ANN201
        from etl.run.airflow import wait_for_landing

        return wait_for_landing(data_interval_start)

    @task(depends_on_past=True)
    def run_day(data_interval_start=None):  # noqa: ANN001, ANN201
        from etl.run.airflow import run_task

        return run_task("run_day", data_interval_start)

    @task(outlets=[DAILY])
    def audit(data_interval_start=None, outlet_events=None):  # noqa: ANN001, ANN201
        from etl.run.airflow import publish_day, run_task

        summary = run_task("audit", data_interval_start)
        publish_day(outlet_events, DAILY, summary)
        return summary

    wait_for_dump() >> run_day() >> audit()
