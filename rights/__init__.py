"""The `rights` command line, on top of the engine, the server (api) and the benchmarks.

Nothing below imports it: engine/, api/, bench/ and loadtest/ stay usable without it.
"""
