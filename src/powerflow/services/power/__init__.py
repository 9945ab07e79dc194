"""The power layer: what makes a BPMN run a supervised exercise of public power.

- ``powers``: the power list (which processes exercise which power items, and who answers).
- ``rules``: negative-list rules, evaluated as one ordered policy inside every claim and
  completion (``policy``), with their violations, declarations and lists.
- ``calendar`` and ``deadlines``: working-day time limits, clock pauses and extensions.
- ``alerts``: prompt, yellow and red alerts, raised once per threshold crossing by the alert
  loop or by a rule, and their lifecycle.
"""
