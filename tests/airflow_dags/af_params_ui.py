"""Greetings in the languages chosen on the trigger form.

The form comes from the params' JSON Schemas.
"""
import datetime
from pathlib import Path

from orchestrator.airflow import task
from orchestrator.airflow import DAG
from orchestrator.airflow import Param
from orchestrator.airflow import TriggerRule

with DAG(
    dag_id=Path(__file__).stem,
    dag_display_name="Params trigger UI",
    description=__doc__.partition(".")[0],
    doc_md=__doc__,
    schedule=None,
    start_date=datetime.datetime(2024, 3, 4),
    catchup=False,
    tags=["example", "params"],
    params={
        "names": Param(["Ann", "Bo"], type="array", description="One name per line", title="Names to greet"),
        "english": Param(True, type="boolean", title="English"),
        "german": Param(True, type="boolean", title="German"),
        "french": Param(False, type="boolean", title="French"),
    },
) as dag:

    @task(task_id="get_names", task_display_name="Get names")
    def get_names(**kwargs) -> list[str]:
        ti = kwargs["ti"]
        dag_run = ti.dag_run
        if "names" not in dag_run.conf:
            return []
        return dag_run.conf["names"]

    @task.branch(task_id="select_languages")
    def select_languages(**kwargs) -> list[str]:
        dag_run = kwargs["ti"].dag_run
        return [f"generate_{lang}_greeting" for lang in ["english", "german", "french"] if dag_run.conf.get(lang)]

    @task(task_id="generate_english_greeting")
    def generate_english_greeting(name: str) -> str:
        return f"Hello {name}!"

    @task(task_id="generate_german_greeting")
    def generate_german_greeting(name: str) -> str:
        return f"Hallo {name}!"

    @task(task_id="generate_french_greeting")
    def generate_french_greeting(name: str) -> str:
        return f"Bonjour {name}!"

    @task(task_id="print_greetings", trigger_rule=TriggerRule.ALL_DONE)
    def print_greetings(greetings1, greetings2, greetings3) -> list:
        everyone = [g for gs in (greetings1, greetings2, greetings3) for g in gs or []]
        for g in everyone:
            print(g)
        return everyone

    lang_select = select_languages()
    names = get_names()
    english = generate_english_greeting.expand(name=names)
    german = generate_german_greeting.expand(name=names)
    french = generate_french_greeting.expand(name=names)
    lang_select >> [english, german, french]
    print_greetings(english, german, french)
