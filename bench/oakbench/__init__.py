"""oakbench: oakdata, posthog and segment-analytics-python measured side by side.

Run it with ``bench/run`` (see docs/performance.md). The pieces:

  sink.py      the HTTP sink every SDK sends to, in its own process
  control.py   resetting the sink and reading its counters
  workload.py  one measurement of one SDK, run in a fresh subprocess
  sdks.py      how each SDK is built and called, configured alike
  event.py     the bench event and the marker the sink counts
  driver.py    starts the sink, runs the plan, repeats, keeps medians
  report.py    the figures, their targets, the table
  hotpath.py   a profiling aid for oakdata's capture and send path (not in the table)
"""
