"""Planning a run before paying for it: a device's throughput profile, the wall-clock model of
a recipe (env step + updates per iteration x update), and the value-based scaling laws.

Reads benchmark JSON and configs; drives the trainer only through its public entry points.
"""
