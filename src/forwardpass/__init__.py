"""forwardpass: serve trained models over the Peltarion Deployment API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("forwardpass")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
