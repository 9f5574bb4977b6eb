"""The registry service on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from forwardpass.errors import BadData, Conflict, ResourceNotFound, SignatureError
from forwardpass.registry import Registry
from forwardpass.registry.tokens import hash_token, matches
from forwardpass.settings import Settings


@pytest.fixture(scope="module")
def demo_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from tests.models import demo_model

    return demo_model(tmp_path_factory.mktemp("m") / "weight.onnx").read_bytes()


def test_models_are_versioned_and_content_addressed(registry, demo_bytes, tmp_path):
    first = registry.add_model(demo_bytes, "weight")
    assert (first.name, first.version, first.ref) == ("weight", 1, "weight:1")
    assert registry.store.path(first.sha256).read_bytes() == demo_bytes
    # The same bytes again are the same version; under another name, a new model.
    assert registry.add_model(demo_bytes, "weight").id == first.id
    other = registry.add_model(demo_bytes, "weight-copy")
    assert other.sha256 == first.sha256 and other.ref == "weight-copy:1"
    assert [m.ref for m in registry.models()] == ["weight:1", "weight-copy:1"]
    assert registry.model("weight").id == first.id
    assert registry.model("weight:1").signature == first.signature


def test_new_bytes_make_the_next_version(registry, demo_bytes):
    import onnx

    from forwardpass.model import signature as sig

    registry.add_model(demo_bytes, "weight")
    model = onnx.load_from_string(demo_bytes)
    found = sig.read(model)
    assert found is not None
    renamed = sig.Signature(found.inputs, (sig.Feature("Mass", "numeric", (1,), "variable"),))
    sig.write(model, renamed)
    second = registry.add_model(model.SerializeToString(), "weight")
    assert second.version == 2
    assert registry.model("weight").version == 2
    assert registry.model("weight:1").signature.outputs[0].name == "Weight"


def test_bad_models_are_refused_and_nothing_is_stored(registry, demo_bytes):
    import onnx

    from forwardpass.model.signature import METADATA_KEY

    with pytest.raises(BadData, match="not an ONNX file"):
        registry.add_model(b"definitely not onnx", "broken")
    plain = onnx.load_from_string(demo_bytes)
    for prop in list(plain.metadata_props):
        if prop.key == METADATA_KEY:
            plain.metadata_props.remove(prop)
    with pytest.raises(SignatureError):
        registry.add_model(plain.SerializeToString(), "plain")
    with pytest.raises(BadData, match="model name"):
        registry.add_model(demo_bytes, "bad:name")
    assert registry.models() == []
    for missing in ("nothing", "nothing:1", "weight:7"):
        with pytest.raises(ResourceNotFound):
            registry.model(missing)


def test_deployment_lifecycle(registry, demo_bytes):
    registry.add_model(demo_bytes, "weight")
    before = registry.generation()
    deployment, token = registry.create_deployment("weight", "demo", created_by="tester")
    assert registry.generation() > before
    assert deployment.enabled and deployment.deployed_at is not None
    assert deployment.model.ref == "weight:1" and deployment.created_by == "tester"
    # Only a hash of the token is stored, and it matches in constant time.
    assert deployment.token_hash == hash_token(token) and token not in deployment.token_hash
    assert matches(token, deployment.token_hash) and not matches(token + "x", deployment.token_hash)
    assert "token_hash" not in deployment.to_dict()

    disabled = registry.set_enabled(deployment.id, False)
    assert not disabled.enabled and disabled.revision > deployment.revision
    rotated, new_token = registry.rotate_token(deployment.id)
    assert new_token != token and not matches(token, rotated.token_hash)
    assert matches(new_token, rotated.token_hash)

    registry.set_enabled(deployment.id, True)
    with pytest.raises(Conflict, match="disable it"):
        registry.delete_deployment(deployment.id)
    assert registry.deployment(deployment.id).enabled  # nothing lost by the refusal
    registry.set_enabled(deployment.id, False)
    registry.delete_deployment(deployment.id)
    with pytest.raises(ResourceNotFound):
        registry.deployment(deployment.id)
    assert registry.deployments() == []


def test_unknown_deployments(registry):
    for key in ("00000000-0000-4000-8000-000000000000", "not-a-uuid", ""):
        with pytest.raises(ResourceNotFound):
            registry.deployment(key)
    with pytest.raises(ResourceNotFound):
        registry.create_deployment("no-such-model")


def test_timestamps_are_utc_aware(registry, demo_bytes):
    model = registry.add_model(demo_bytes, "weight")
    deployment, _ = registry.create_deployment(model.ref)
    for stamp in (model.created_at, deployment.created_at, deployment.updated_at):
        assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0


def test_opening_twice_migrates_once(tmp_path, demo_bytes):
    settings = Settings(data_dir=tmp_path)
    first = Registry.open(settings)
    first.add_model(demo_bytes, "weight")
    first.close()
    again = Registry.open(settings)
    assert [m.ref for m in again.models()] == ["weight:1"]
    with again.engine.connect() as connection:
        version = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    assert version is not None
    again.close()
