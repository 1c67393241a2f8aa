"""``dchaos explore``: search fault schedules nobody wrote, and shrink a failure to a minimal
scenario."""

from __future__ import annotations

from pytest_dchaos.explore.base_scenario import BaseScenario
from pytest_dchaos.explore.schedule import SHAPES, GeneratedFault, ScheduleSpace, generate
from pytest_dchaos.explore.shrink import ShrinkResult, ShrinkStep, shrink

__all__ = ["SHAPES", "BaseScenario", "GeneratedFault", "ScheduleSpace", "ShrinkResult",
           "ShrinkStep",
           "generate", "shrink"]
