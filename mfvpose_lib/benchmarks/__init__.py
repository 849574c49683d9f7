"""Benchmarks behind ``mfvpose bench``: the straightforward path against the fast path, and single
measurements of the data pipeline and the training step.

Above ``study`` in the package order (the suite reads the profiles, the models' complexity and
the ONNX export) and below ``commands``: only the command line and the notebooks import it.
Run the whole suite with :func:`mfvpose_lib.benchmarks.suite.run_suite`.
"""
