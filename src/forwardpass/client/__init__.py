"""The Python client of a forwardpass deployment (or any server of the Deployment API).

    from forwardpass.client import Deployment

    deployment = Deployment(url, token)
    deployment.predict(Type="animal", Sound="woof", Size=0.9)
    deployment.predict_many(rows_or_dataframe, progress=True)

Errors are the classes of `forwardpass.errors`, one per errorCode.
"""

from forwardpass.client.aio import AsyncDeployment
from forwardpass.client.core import Options
from forwardpass.client.deployment import Deployment
from forwardpass.client.errors import ConnectionFailed, UnexpectedResponse
from forwardpass.client.spec import FeatureSpec

__all__ = [
    "AsyncDeployment",
    "ConnectionFailed",
    "Deployment",
    "FeatureSpec",
    "Options",
    "UnexpectedResponse",
]
