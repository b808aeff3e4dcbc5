"""The diagnostic sensors of each bus connection: the client's own figures of its health.

Reconnects, when the connection started, the round trip of the latest polls
and the writes given up on, as the library counts them. All are disabled by
default, as core does for such figures. They follow the coordinator, which
tells its listeners of every snapshot that changed, every change of the link
and every write given up on; a sensor writes its state only when its value
changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.typing import StateType
from homeassistant.helpers.update_coordinator import CoordinatorEntity
from homeassistant.util import dt as dt_util

from ipcom.models import ClientStatistics

from .coordinator import IPComConfigEntry, IPComCoordinator
from .identifiers import hub_identifier, statistic_unique_id

PARALLEL_UPDATES = 0

ROUND_TRIP_DIGITS: Final = 1
REFRESH_INTERVAL: Final = timedelta(seconds=30)
"""How often an enabled figure is looked at besides the bus's news; reading it costs no I/O."""
"""Tenths of a millisecond: finer changes are noise, and each would be a state written."""


def _connected_since(statistics: ClientStatistics) -> datetime | None:
    if statistics.connected_since is None:
        return None
    return dt_util.utc_from_timestamp(statistics.connected_since)


def _round_trip(statistics: ClientStatistics) -> float | None:
    if statistics.poll_round_trip is None:
        return None
    return round(statistics.poll_round_trip * 1000, ROUND_TRIP_DIGITS)


@dataclass(frozen=True, kw_only=True)
class IPComStatisticDescription(SensorEntityDescription):
    """A figure of the client's statistics, and how it reads as a sensor's value."""

    value_fn: Callable[[ClientStatistics], StateType | datetime]


SENSORS: Final[tuple[IPComStatisticDescription, ...]] = (
    IPComStatisticDescription(
        key="reconnects",
        translation_key="reconnects",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda statistics: statistics.reconnects,
    ),
    IPComStatisticDescription(
        key="connected_since",
        translation_key="connected_since",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=_connected_since,
    ),
    IPComStatisticDescription(
        key="round_trip",
        translation_key="round_trip",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=ROUND_TRIP_DIGITS,
        value_fn=_round_trip,
    ),
    IPComStatisticDescription(
        key="writes_abandoned",
        translation_key="writes_abandoned",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda statistics: statistics.writes_abandoned,
    ),
)
"""One sensor per figure and bus; their keys are `const.STATISTIC_SENSORS`, in this order."""


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IPComConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the diagnostic sensors of every bus connection."""
    coordinators = entry.runtime_data.coordinators
    async_add_entities(
        IPComStatisticSensor(coordinator, description, named_by_bus=len(coordinators) > 1)
        for coordinator in coordinators.values()
        for description in SENSORS
    )


class IPComStatisticSensor(CoordinatorEntity[IPComCoordinator], SensorEntity):
    """One figure of one bus connection, on the installation's hub device.

    It stays available while the link is down: the figures of an outage are
    exactly what it is there to show (the start of the connection is then
    unknown).
    """

    entity_description: IPComStatisticDescription
    _attr_has_entity_name = True
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_entity_registry_enabled_default = False

    def __init__(
        self,
        coordinator: IPComCoordinator,
        description: IPComStatisticDescription,
        *,
        named_by_bus: bool,
    ) -> None:
        """Attach the sensor to the hub device of the entry; name its bus when there are two."""
        super().__init__(coordinator)
        self.entity_description = description
        entry_id = coordinator.config_entry.entry_id
        self._attr_unique_id = statistic_unique_id(entry_id, description.key, coordinator.bus)
        if named_by_bus:
            self._attr_translation_key = f"{description.translation_key}_bus"
            self._attr_translation_placeholders = {"bus": str(coordinator.bus)}
        self._attr_device_info = DeviceInfo(identifiers={hub_identifier(entry_id)})
        self._attr_native_value = description.value_fn(coordinator.statistics)

    async def async_added_to_hass(self) -> None:
        """Also look at the figure every `REFRESH_INTERVAL`: a quiet bus sends no news."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_track_time_interval(self.hass, self._async_refresh, REFRESH_INTERVAL)
        )

    @callback
    def _async_refresh(self, _now: datetime) -> None:
        self._handle_coordinator_update()

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write state only when the figure changed."""
        value = self.entity_description.value_fn(self.coordinator.statistics)
        if value == self._attr_native_value:
            return
        self._attr_native_value = value
        self.async_write_ha_state()
