"""The registry: models and deployments in SQL, model files in a content-addressed store."""

from forwardpass.registry.records import Deployment, ModelVersion
from forwardpass.registry.service import Registry

__all__ = ["Deployment", "ModelVersion", "Registry"]
