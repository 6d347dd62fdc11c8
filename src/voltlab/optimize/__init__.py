"""Bayesian optimisation of materials and cells: search spaces and ask/tell campaigns.

Importing this package is light (numpy only); BoTorch and scikit-learn load
when a surrogate is first fitted. See ``docs/optimize.md``.

Examples
--------
>>> from voltlab.optimize import Real, SearchSpace, Simplex
>>> space = SearchSpace([Real("Ni", 0.5, 0.9), Real("Co", 0.05, 0.3), Real("Mn", 0.05, 0.3)],
...                     simplexes=[Simplex(("Ni", "Co", "Mn"))])
>>> space.dim
3
"""

from voltlab.optimize.boxmap import SimplexBoxMap
from voltlab.optimize.campaign import Campaign, Settings, Suggestion
from voltlab.optimize.objectives import Objective, OutcomeConstraint
from voltlab.optimize.pareto import hypervolume, pareto_mask, reference_point
from voltlab.optimize.space import Categorical, Fixed, Integer, LinearConstraint, Real, SearchSpace, Simplex

__all__ = [
    "Campaign",
    "Categorical",
    "Fixed",
    "Integer",
    "LinearConstraint",
    "Objective",
    "OutcomeConstraint",
    "Real",
    "SearchSpace",
    "Settings",
    "Simplex",
    "SimplexBoxMap",
    "Suggestion",
    "hypervolume",
    "pareto_mask",
    "reference_point",
]
