"""A long run with faults, as a platform lives: ``python -m bench.soak --help`` (bench/README.md)."""
