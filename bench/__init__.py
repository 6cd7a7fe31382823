"""Benchmarks of citylight's hot paths, each next to the machine's limit measured in the same run.

Run ``python -m bench`` (see ``--help``); figures go to stdout as a table and to a JSON file.
These are measurements, not tests: nothing here asserts a time.
"""
