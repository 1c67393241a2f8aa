"""``dchaos explore``: search fault schedules nobody wrote, and shrink a failure to a minimal
scenario."""

from __future__ import annotations

from pytest_dchaos.explore.base_scenario import BaseScenario
from pytest_dchaos.explore.schedule import SHAPES, GeneratedFault, ScheduleSpace, generate

__all__ = ["SHAPES", "BaseScenario", "GeneratedFault", "ScheduleSpace", "generate"]
