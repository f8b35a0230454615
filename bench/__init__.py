"""Vool benchmarks: the bare nameko floor against the real reading flow.

``make bench`` (``python -m bench.run``) measures both in one run; see
bench/README.md for what each scenario measures and the recorded numbers.
Nothing is imported here: ``bench.run`` monkey-patches eventlet first.
"""
