"""What kind of model a fitted object is: helpers shared by the trainer and the registry.

Pure functions over scikit-learn objects; they import nothing heavy themselves.
"""

from __future__ import annotations

from typing import Any


def final_estimator(model: Any) -> Any:
    """The last step of a Pipeline, or the model itself."""
    return model.steps[-1][1] if hasattr(model, "steps") else model


def is_fine_tunable(model: Any) -> bool:
    """True when the final estimator learns incrementally (``partial_fit``)."""
    return hasattr(final_estimator(model), "partial_fit")


def estimator_name(model: Any) -> str:
    """Class name of the final estimator (recorded with each model version)."""
    return type(final_estimator(model)).__name__


def known_classes(model: Any) -> list[str]:
    """The classes a fitted model predicts, as strings (empty when it has no ``classes_``)."""
    return [str(c) for c in getattr(final_estimator(model), "classes_", [])]
