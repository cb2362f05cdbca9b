"""The escalate function's package (functions/escalate): pages on-call through SNS.

`handler` holds the entry point and wiring; `decision` which ticket changes page; `message` the
page itself; `escalation` once-only pages per level; `timers` the re-page schedules.
Modules are imported by what needs them, so that importing the package costs nothing.
"""
