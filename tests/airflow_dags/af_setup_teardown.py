from orchestrator.airflow import pendulum
from orchestrator.airflow import setup, task, task_group, teardown
from orchestrator.airflow import DAG

with DAG(dag_id="af_setup_teardown", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False) as dag:

    @task
    def first():
        print("one")

    @task
    def second():
        print("two")

    @task
    def third():
        print("three")

    t1, t2, t3 = first(), second(), third()
    t1 >> t2 >> t3.as_teardown(setups=t1)

    @setup
    def make_cluster():
        return "cluster-7"

    @teardown
    def remove_cluster(cluster_id):
        print(f"removing {cluster_id}")

    @task
    def work():
        print("working")

    @task_group
    def inner():
        @setup
        def inner_setup():
            return "inner-1"

        @task
        def inner_work(cluster_id):
            print(f"inner work on {cluster_id}")

        @teardown
        def inner_teardown(cluster_id):
            print(f"inner teardown of {cluster_id}")

        made = inner_setup()
        inner_work(made) >> inner_teardown(made)

    with remove_cluster(make_cluster()):
        work()
        inner()
