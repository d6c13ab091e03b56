from orchestrator.airflow import pendulum
from orchestrator.airflow import task, task_group
from orchestrator.airflow import DAG


@task
def start():
    return "[start]"


@task
def step_1(value: int) -> str:
    return f"[ step1 {value} ]"


@task
def step_2(value: str) -> str:
    return f"[ step2 {value} ]"


@task
def step_3(value: str) -> None:
    print(f"[ step3 {value} ]")


@task
def end() -> None:
    print("[ end ]")


@task_group
def section(value: int) -> None:
    """Three steps in a row"""
    step_3(step_2(step_1(value)))


with DAG(dag_id="af_task_groups", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False) as dag:
    first = start()
    last = end()
    for i in range(3):
        first >> section(i) >> last
