"""lossbounds: exact Keras loss values in numpy, with proven bounds."""

__version__ = "0.1.0"
