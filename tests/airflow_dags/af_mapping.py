from datetime import datetime

from orchestrator.airflow import DAG
from orchestrator.airflow import task

with DAG(dag_id="af_mapping", start_date=datetime(2024, 3, 4)) as dag:

    @task
    def numbers():
        return [1, 2, 3]

    @task
    def times_two(n: int):
        return n * 2

    @task
    def plus_ten(n: int):
        return n + 10

    @task
    def total(values):
        print(f"total was {sum(values)}")
        return sum(values)

    total(plus_ten.expand(n=times_two.expand(n=numbers())))
