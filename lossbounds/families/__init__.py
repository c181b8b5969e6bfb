"""The loss definitions, one module per family (as optax groups its losses).

Importing this package registers every loss. To add a loss, define it in its
family's module (or a new one imported here): see CONTRIBUTING.md.
"""

# The import order is the order losses are listed in: regression, then the cross-entropies.
from . import regression  # isort: skip
from . import crossentropy  # isort: skip

__all__ = ["crossentropy", "regression"]
