"""
### Bash tutorial in Airflow's style
Three Bash steps; the last one renders a Jinja loop.
"""
from datetime import datetime, timedelta
from textwrap import dedent

from orchestrator.airflow import DAG
from orchestrator.airflow import BashOperator

with DAG(
    "af_tutorial",
    default_args={
        "depends_on_past": False,
        "email": ["ops@example.com"],
        "email_on_failure": False,
        "email_on_retry": False,
        "retries": 1,
        "retry_delay": timedelta(seconds=1),
    },
    description="Bash steps with templates",
    schedule=timedelta(days=1),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example"],
) as dag:
    print_date = BashOperator(task_id="print_date", bash_command="date")
    pause = BashOperator(task_id="pause", depends_on_past=False, bash_command="sleep 0.2", retries=3)
    print_date.doc_md = "#### Prints the date"
    dag.doc_md = __doc__
    templated = BashOperator(
        task_id="templated",
        depends_on_past=False,
        bash_command=dedent(
            """
            {% for i in range(3) %}
                echo "day {{ ds }} plus {{ i }}: {{ macros.ds_add(ds, i) }}"
            {% endfor %}
            """
        ),
    )
    print_date >> [pause, templated]
