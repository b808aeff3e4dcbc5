"""Release engineering: one version everywhere, the changelog, the artefacts and their checks.

`scripts/release` (the command line, `python -m release`) and the GitHub workflows use it, so
every step of a release can be run and tested on a developer's machine. Standard library only:
it runs on a bare Python before anything is installed.
"""
