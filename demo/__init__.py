"""The one-command demo: Home Assistant with ipcom on the simulated installation (scripts/demo)."""
