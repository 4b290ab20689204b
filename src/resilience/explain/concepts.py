"""Concepts, not columns: which model features make up each concept of the data config.

SHAP values add within a group, so a concept's contribution (the sum of its features') is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from resilience.data.contract import ConceptSpec, DataContract


@dataclass(frozen=True)
class ConceptMap:
    """Which model features make up each concept, in the order concepts first appear."""

    concepts: tuple[ConceptSpec, ...]
    members: tuple[np.ndarray, ...]  # feature positions of each concept
    matrix: np.ndarray  # (features, concepts) 0/1

    @classmethod
    def build(cls, contract: DataContract, features: Sequence[str]) -> ConceptMap:
        concepts: list[ConceptSpec] = []
        positions: dict[str, list[int]] = {}
        for j, name in enumerate(features):
            concept = contract.concept_of(name)
            if concept.name not in positions:
                concepts.append(concept)
                positions[concept.name] = []
            positions[concept.name].append(j)
        members = tuple(np.asarray(positions[c.name]) for c in concepts)
        matrix = np.zeros((len(features), len(concepts)))
        for k, idx in enumerate(members):
            matrix[idx, k] = 1.0
        return cls(tuple(concepts), members, matrix)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.concepts]
