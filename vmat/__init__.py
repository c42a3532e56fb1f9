"""vmat: multi-person video matting and layer editing."""

__version__ = "0.1.0"

# Public names, imported on first use so that `import vmat` stays fast (torch and the models load later).
_LAZY = {
    "Clip": "vmat.clip",
    "run": "vmat.api",
    "matte": "vmat.api",
    "RunConfig": "vmat.pipeline.run",
    "VmatError": "vmat.errors",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vmat' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
