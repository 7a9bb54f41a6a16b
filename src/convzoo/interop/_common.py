"""What the converters share: lazy imports of the optional frameworks, and errors."""

from __future__ import annotations

import importlib

from ..errors import ConvZooError


def optional_import(module: str, extra: str):
    """Import `module`, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{module} is needed for this conversion; install it with `pip install convzoo[{extra}]`."
        ) from error


def unsupported(what: str, where: str, supported: str) -> ConvZooError:
    return ConvZooError(f"{where}: {what} is not supported. convzoo converts {supported}.")
