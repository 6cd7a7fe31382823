"""Fuzz tests of the protocol codecs and the controller's entry points (issue 9, "Bad input
refused"): random and mutated payloads, datagrams and lines, each of which must be refused
with the module's own error (pure codecs) or a counted refusal (live entry points), while
the daemon keeps serving.

Budgets are bounded so that the directory runs in about a minute on two cores.
``CITYLIGHT_FUZZ_EXAMPLES=N`` multiplies every test's number of examples by N (a longer
hunt, e.g. ``CITYLIGHT_FUZZ_EXAMPLES=20`` before a release). With ``CI`` set, the
project's ``ci`` profile (tests/conftest.py) derandomizes Hypothesis: CI explores the same
examples on every run; a developer's run explores new ones. ``strategies.py`` holds the
generators and the mutations they share.
"""
