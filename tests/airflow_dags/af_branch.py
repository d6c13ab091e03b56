import random

from orchestrator.airflow import pendulum
from orchestrator.airflow import task
from orchestrator.airflow import DAG
from orchestrator.airflow import EmptyOperator
from orchestrator.airflow import Label
from orchestrator.airflow import TriggerRule

with DAG(
    dag_id="af_branch",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    schedule="@daily",
    tags=["example"],
    orientation="TB",
) as dag:
    first = EmptyOperator(task_id="first")
    options = ["a", "b", "c"]

    @task.branch()
    def choose(choices: list[str]) -> str:
        return f"branch_{random.choice(choices)}"

    chosen = choose(choices=options)
    first >> chosen
    join = EmptyOperator(task_id="join", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    for option in options:

        @task(task_id=f"branch_{option}")
        def some_task():
            print("on this branch")

        t = some_task()
        after = EmptyOperator(task_id=f"after_{option}")
        chosen >> Label(option) >> t >> after >> join
