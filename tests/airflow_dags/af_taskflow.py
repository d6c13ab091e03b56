import json

from orchestrator.airflow import pendulum
from orchestrator.airflow import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False, tags=["example"])
def af_taskflow():
    """
    ### Extract, transform, load with TaskFlow
    """

    @task()
    def extract():
        return json.loads('{"a": 10.5, "b": 20.25, "c": 3.0}')

    @task(multiple_outputs=True)
    def transform(orders: dict):
        return {"total": sum(orders.values()), "count": len(orders)}

    @task()
    def load(total: float, count: int):
        print(f"total {total:.2f} over {count} orders")
        return round(total, 2)

    summary = transform(extract())
    load(summary["total"], summary["count"])


af_taskflow()
