"""The power layer: what makes a BPMN run a supervised exercise of public power.

- ``powers``: the power list (which processes exercise which power items, and who answers).
- ``rules``, ``policy``, ``checks``: negative-list rules, evaluated as one ordered policy inside
  every claim and completion; ``violations``, ``declarations``, ``lists`` and ``snapshots``:
  what they record and read.
- ``calendar``, ``calendar_edits``, ``deadlines``, ``extensions``: working-day time limits,
  clock pauses and approved extensions.
- ``alerts``, ``alert_loop``, ``alert_list``, ``profiles``: prompt, yellow and red alerts,
  raised once per threshold crossing by the alert loop or by a rule, and their lifecycle.
"""
