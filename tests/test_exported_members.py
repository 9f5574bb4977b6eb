"""The public names each package documents in `__all__` are what it exports, and no more."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["forwardpass", "forwardpass.client", "forwardpass.codecs", "forwardpass.registry"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_what_the_package_exports(name):
    package = importlib.import_module(name)
    public = {
        key
        for key, value in vars(package).items()
        if not key.startswith("_")
        # defined in this package (a name imported from elsewhere is only used here)
        and getattr(value, "__module__", "").startswith(name)
        and not (hasattr(value, "__path__") or type(value).__name__ == "module")
    }
    assert set(package.__all__) >= public, (
        f"exported but not in __all__: {public - set(package.__all__)}"
    )
    missing = [n for n in package.__all__ if not hasattr(package, n)]
    assert not missing, f"in __all__ but missing: {missing}"


def test_the_client_has_the_sidekick_names():
    from forwardpass.client import Deployment

    for method in ("predict", "predict_many", "predict_lazy"):
        assert callable(getattr(Deployment, method))
    for prop in ("feature_specs_in", "feature_specs_out", "tensor_json"):
        assert isinstance(getattr(Deployment, prop), property)
