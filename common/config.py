"""Presets to configs: the one ``make_config`` behind every paper's ``config.make_config``.

Each paper defines a frozen dataclass whose defaults are its ``default`` preset, a ``PRESETS``
dict of named field overrides, and a validator; ``build_config`` joins them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, TypeVar

__all__ = ["build_config"]

C = TypeVar("C")


def build_config(cls: type[C], presets: Mapping[str, Mapping[str, Any]], validate: Callable[[C], None],
                 preset: str = "default", overrides: Mapping[str, Any] | None = None) -> C:
    """``cls`` built from ``presets[preset]`` with ``overrides`` on top (None values are ignored,
    so unset CLI flags keep the preset's value), then checked by ``validate`` (raises ValueError).

    An unknown preset or an unknown field raises ValueError naming the choices.
    """
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(presets)}")
    overrides = dict(overrides or {})
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(f"unknown config fields {sorted(unknown)}")
    cfg = cls(**{**presets[preset], **{k: v for k, v in overrides.items() if v is not None}})
    validate(cfg)
    return cfg
