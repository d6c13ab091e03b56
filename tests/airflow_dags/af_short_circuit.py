from orchestrator.airflow import pendulum
from orchestrator.airflow import dag, task
from orchestrator.airflow import chain
from orchestrator.airflow import EmptyOperator
from orchestrator.airflow import TriggerRule


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
def af_short_circuit():
    @task.short_circuit()
    def check(condition):
        return condition

    yes = [EmptyOperator(task_id=f"yes_{i}") for i in [1, 2]]
    no = [EmptyOperator(task_id=f"no_{i}") for i in [1, 2]]
    chain(check.override(task_id="is_true")(condition=True), *yes)
    chain(check.override(task_id="is_false")(condition=False), *no)

    a, b, c, d, e, f = [EmptyOperator(task_id=f"step_{i}") for i in range(1, 7)]
    g = EmptyOperator(task_id="step_7", trigger_rule=TriggerRule.ALL_DONE)
    gate = check.override(task_id="gate", ignore_downstream_trigger_rules=False)(condition=False)
    chain(a, [b, gate], [c, d], [e, f], g)


af_short_circuit()
