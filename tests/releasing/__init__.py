"""Tests of the release engineering: versions, changelog, artefacts, brand, workflows."""
