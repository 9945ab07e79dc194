"""Event logs for process-mining tools: XES (IEEE 1849-2016) and OCEL 2.0 JSON.

Pure formatting: the writers take iterables of plain records (``records.MiningEvent``) in trace
order and yield the file as byte chunks, so that a log of any size streams through a bounded
amount of memory. Reading and selecting the events is services/mining.py's job; which event
types a log holds and what each means as a lifecycle transition is ``mapping``.
"""
