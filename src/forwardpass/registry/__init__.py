"""The registry: models and deployments in SQL, model files in a content-addressed store."""

from forwardpass.registry.service import Deployment, ModelVersion, Registry

__all__ = ["Deployment", "ModelVersion", "Registry"]
