"""The types of hyperparameter values: what a search space samples and a network is built from.

A value is a YAML scalar (an integer, a float, a string or a boolean); a configuration maps
parameter names to values. Both the networks (:mod:`mmtune.model.networks`) and the search
(:mod:`mmtune.search.spaces`) speak of them, so they live here, below both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

__all__ = ["ParamValue", "Params"]

#: One hyperparameter's value.
ParamValue: TypeAlias = int | float | str | bool

#: A configuration: parameter names to their values (read-only; a function that builds one
#: returns ``dict[str, ParamValue]``).
Params: TypeAlias = Mapping[str, ParamValue]
