"""Sweeps: a base config × a grid / zip of overrides × seeds → one run directory each,
a manifest (sweep.json) and a table of mean ± std over seeds (summary.json / .csv).

    from vaelab.sweep import read_sweep_file, run_sweep
    summary = run_sweep(read_sweep_file("beta.toml"), "sweeps/beta")

The directory's layout (file names, format version, verdicts) is sweep/layout.py's; the
rules that make it resumable and safe for concurrent sweep processes are in
sweep/state.py; backends (local processes, batched, Ray) in sweep/backends.py.
"""

from vaelab.sweep.backends import BACKENDS
from vaelab.sweep.runner import SweepRunsFailed, load_spec, run_sweep
from vaelab.sweep.spec import Point, RunSpec, SweepSpec, read_sweep_file, spec_from_dict

__all__ = ["BACKENDS", "Point", "RunSpec", "SweepRunsFailed", "SweepSpec", "load_spec",
           "read_sweep_file", "run_sweep", "spec_from_dict"]
