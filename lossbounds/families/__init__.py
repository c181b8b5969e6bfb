"""The loss definitions, one module per family (as optax groups its losses).

Importing this package registers every loss. To add a loss, define it in its
family's module (or a new one imported here): see CONTRIBUTING.md.
"""

# The import order is the order losses are listed in.
from . import regression  # isort: skip
from . import probabilistic  # isort: skip
from . import similarity  # isort: skip
from . import hinge  # isort: skip
from . import crossentropy  # isort: skip
from . import focal  # isort: skip
from . import segmentation  # isort: skip
from . import metric_learning  # isort: skip
from . import sequence  # isort: skip

__all__ = ["crossentropy", "focal", "hinge", "metric_learning", "probabilistic", "regression",
           "segmentation", "sequence", "similarity"]
