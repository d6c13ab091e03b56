"""The scheduler service: the loop, dispatch to the executor, timers and cron."""
