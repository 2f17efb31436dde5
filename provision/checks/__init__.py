"""Scheduled infrastructure checks: is every hosted application still as recorded?

`checker.run_checks` is the entry point (docs/checks.md); `runner` runs units with bounded
concurrency and timeouts; `dns`, `http`, `tls`, `host`, `gitlab` build the units;
`output` renders JSON, JUnit XML and Prometheus text.
"""
