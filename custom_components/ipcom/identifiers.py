"""Registry ids of this integration's entities and devices, one namespace per kind.

Nothing here imports the `ipcom` library, so the integration can still load,
and explain itself, when that library cannot be imported.
"""

from __future__ import annotations

from .const import DOMAIN, FIRST_BUS


def hub_identifier(entry_id: str) -> tuple[str, str]:
    """Device registry identifier of the installation itself."""
    return (DOMAIN, entry_id)


def module_identifier(entry_id: str, module: int, bus: int = FIRST_BUS) -> tuple[str, str]:
    """Device registry identifier of a bus module: a module is a (bus, number) pair."""
    return (DOMAIN, f"{entry_id}:module:{bus}:{module}")


def device_identifier(entry_id: str, key: str) -> tuple[str, str]:
    """Device registry identifier of a device from the device map.

    Keys are the installer's words, so they live in a namespace of their own:
    a key such as `module_1` can never name a bus module.
    """
    return (DOMAIN, f"{entry_id}:device:{key}")


def is_own_identifier(entry_id: str, value: str) -> bool:
    """Whether a device identifier value is one this entry's devices are given."""
    return value == entry_id or value.startswith(f"{entry_id}:")


def output_unique_id(entry_id: str, module: int, output: int, bus: int = FIRST_BUS) -> str:
    """Unique id of the entity driven by an output (a cover by its up relay).

    Bus 1's ids are those of the time before buses, so no existing entity changes.
    """
    if bus == FIRST_BUS:
        return f"{entry_id}_{module}_{output}"
    return f"{entry_id}_bus{bus}_{module}_{output}"


def connection_unique_id(entry_id: str, bus: int = FIRST_BUS) -> str:
    """Unique id of a bus connection's connectivity sensor; bus 1's is the one of old."""
    if bus == FIRST_BUS:
        return f"{entry_id}_connection"
    return f"{entry_id}_connection_bus{bus}"


def statistic_unique_id(entry_id: str, key: str, bus: int = FIRST_BUS) -> str:
    """Unique id of one of a bus connection's diagnostic sensors (`const.STATISTIC_SENSORS`)."""
    if bus == FIRST_BUS:
        return f"{entry_id}_{key}"
    return f"{entry_id}_{key}_bus{bus}"


def is_own_unique_id(entry_id: str, unique_id: str) -> bool:
    """Whether an entity unique id has one of this entry's shapes (outputs, connection, figures)."""
    return unique_id.startswith(f"{entry_id}_")
