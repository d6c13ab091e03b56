"""`standalone` hears its signals whichever of its threads the kernel hands them to
(orchestrator.cli.admin.run_services)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import signal, threading, time
from orchestrator.cli.admin import run_services

class Service:
    def __init__(self):
        self.stopped = threading.Event()
    def run(self):
        time.sleep(0.5)  # the main thread waits for the services by now
        # the signal goes to this thread, not the main one: only the main thread runs Python's handlers
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
        self.stopped.wait()
    def stop(self):
        self.stopped.set()

run_services([Service()])
"""


def test_a_stop_signal_delivered_to_a_service_thread_stops_standalone() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stderr.strip().splitlines()[-1:]) == (0, ["stopped"]), done.stderr
