"""Plot functions for the notebooks; each returns a matplotlib figure and computes nothing it plots."""
