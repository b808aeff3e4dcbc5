"""The project's test instruments: the soak, its press audit and the bench.

They drive the `ipcom` library against its simulator as any user of the library would, and are
never packaged: the wheel holds only `ipcom` (release/artefacts.py checks it). Run them from the
repository root with `scripts/soak` and `scripts/bench`. Importing them configures no logging:
only their `main`, the entry point, does.
"""
