"""Reproducible benchmarks of yuki-authz; `python -m bench` (`make bench`) writes the report."""
