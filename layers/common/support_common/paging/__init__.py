"""On-call paging: which ticket changes page, the page itself, and escalation by level.

Modules are imported by what needs them (the escalate handler imports `escalation`), so that
importing the package costs nothing.
"""
