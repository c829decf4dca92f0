"""earshot's engine as a plain library (it never imports discord).

    from recommender import Engine, Settings

    engine = await Engine.open(Settings.from_env())
    result = await engine.recommend("https://youtu.be/dQw4w9WgXcQ", 5)

This face is cheap to import: ``Engine`` (and with it numpy, Annoy, SQLAlchemy) loads on
first use, since listening workers and the rebuild child import ``recommender`` too. The
wings below hold the stages of a request; ARCHITECTURE.md is their map.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import ConfigError, Settings
from .errors import BusyError, EarshotError, NotReadyError
from .results import Query, Recommendation, RecommendResult, Stats, TasteProfile

if TYPE_CHECKING:
    from .engine import Engine

__all__ = [
    "BusyError",
    "ConfigError",
    "EarshotError",
    "Engine",
    "NotReadyError",
    "Query",
    "RecommendResult",
    "Recommendation",
    "Settings",
    "Stats",
    "TasteProfile",
]


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from .engine import Engine

        return Engine
    raise AttributeError(f"module 'recommender' has no attribute {name!r}")
