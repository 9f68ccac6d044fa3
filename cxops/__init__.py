"""cxops: a continuous-X MLOps platform for OpenStack research clouds."""

__version__ = "0.1.0"
