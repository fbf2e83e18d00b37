"""Benchmarks at scale: `make bench` generates a realistic data set in PostgreSQL with COPY,
measures the pages, the API, the reminder sweep and the CSV export against it, and writes
docs/benchmarks.md and docs/benchmarks.svg. Not a test: see tests/performance/test_bench_smoke.py for the check
that keeps this code from rotting.

Modules: config (what the environment asks for), database (create, reuse, drop), generate (the rows,
by COPY), measure (timings and query counts), export_memory (one CSV export in a child process, for
its peak memory), child (one database's preparation and measurements, in a child process), machine
(what the figures ran on), plot (the SVG), report (the document), __main__ (the whole run).
"""
