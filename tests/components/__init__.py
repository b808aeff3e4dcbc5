"""Tests of the Home Assistant integrations in custom_components."""
