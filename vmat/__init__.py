"""vmat: multi-person video matting and layer editing."""

__version__ = "0.1.0"
