"""What the management API and the pages show of models and deployments: one function each.

The JSON API returns these dicts as they are; the pages render the same dicts. Examples are
made from the deployment's own interface (its codecs' `example()` values under its API
names), so they are always requests the deployment accepts.
"""

from __future__ import annotations

import json
import shlex
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import onnx

from forwardpass.codecs.rows import Field, RowCodec
from forwardpass.codecs.tensors import input_info
from forwardpass.limits.plan import Limits
from forwardpass.model import graph
from forwardpass.registry import Deployment, ModelVersion, Registry
from forwardpass.registry.usage import shown
from forwardpass.runtime.providers import chosen as chosen_providers
from forwardpass.settings import Settings


def type_label(field: Field, side: str) -> str:
    """The Type column of the deployment view: `categorical (10)`, `image (32x32x3)`."""
    feature = field.feature
    if feature.type == "categorical" and side == "inputs" and feature.categories:
        return f"categorical ({len(feature.categories)})"
    return f"{feature.type} ({'x'.join(str(d) for d in feature.shape)})"


@lru_cache(maxsize=64)
def _tensors(path: str) -> tuple[dict[str, graph.Tensor], dict[str, graph.Tensor]]:
    proto = onnx.load(path, load_external_data=False)
    return graph.inputs(proto), graph.outputs(proto)


def interface(registry: Registry, deployment: Deployment) -> RowCodec:
    """The deployment's interface, read from its model file (no ONNX Runtime session)."""
    inputs, outputs = _tensors(str(registry.store.path(deployment.model.sha256)))
    return RowCodec(deployment.model.signature, inputs, outputs, deployment.api_names)


def example_row(face: RowCodec) -> dict[str, Any]:
    return {f.api_name: f.codec.shown_example() for f in face.inputs}


def placeholder_answer(face: RowCodec) -> dict[str, Any]:
    """An output row of the right shape, for a deployment not in memory (disabled)."""
    row: dict[str, Any] = {}
    for f in face.outputs:
        try:
            row[f.api_name] = f.codec.encode(np.zeros((1, f.feature.size), dtype=np.float32))[0]
        except Exception:  # a codec that cannot encode zeros (text) shows its own example
            row[f.api_name] = f.codec.example()
    return row


def features(face: RowCodec) -> dict[str, list[dict[str, Any]]]:
    def one(field: Field, side: str) -> dict[str, Any]:
        data = field.feature.to_dict()
        data["api_name"] = field.api_name
        data["label"] = type_label(field, side)
        return data

    return {
        "inputs": [one(f, "inputs") for f in face.inputs],
        "outputs": [one(f, "outputs") for f in face.outputs],
    }


def _curl(url: str, row: dict[str, Any], images: tuple[str, ...]) -> str:
    """A JSON request; with image inputs, a form with one line a feature, each image a
    file part (`name.png`), so that the command is not one line of base64."""
    start = f'curl -X POST {shlex.quote(url)} \\\n  -H "Authorization: Bearer $TOKEN" \\\n'
    plain = all(isinstance(v, str | int | float) for k, v in row.items() if k not in images)
    if images and plain:
        parts = [
            f"-F {shlex.quote(f'{k}=@{k}.png' if k in images else f'{k}={v}')}"
            for k, v in row.items()
        ]
        return start + " \\\n".join(f"  {p}" for p in parts)
    return (
        start
        + '  -H "Content-Type: application/json" \\\n'
        + f"  -d {shlex.quote(json.dumps({'rows': [row]}))}"
    )


def examples(
    url: str,
    row: dict[str, Any],
    answer: dict[str, Any],
    face: RowCodec | None = None,
    images: tuple[str, ...] = (),
) -> dict[str, str]:
    """The cURL / JSON / Python examples of the deployment view, and with its interface
    (`face`) the tritonclient one (the Open Inference Protocol); `images` names the image
    inputs (their files are sent as NAME.png in the cURL example)."""
    request = json.dumps({"rows": [row]}, indent=2)
    response = json.dumps({"rows": [answer]}, indent=2)
    return {
        "curl": _curl(url, row, images),
        "json": request,
        "python": (
            "import requests\n\n"
            f"URL = {url!r}\n"
            'TOKEN = "<your token>"\n\n'
            f"rows = {[row]!r}\n"
            'answer = requests.post(URL, json={"rows": rows},\n'
            '                       headers={"Authorization": f"Bearer {TOKEN}"})\n'
            "answer.raise_for_status()\n"
            'print(answer.json()["rows"])'
        ),
        "response": response,
        **({"tritonclient": tritonclient_example(url, row, face)} if face is not None else {}),
    }


def tritonclient_example(url: str, row: dict[str, Any], face: RowCodec) -> str:
    """The same example row through tritonclient.http: the deployment's id is the model."""
    parts = urlsplit(url)
    deployment_id = parts.path.removeprefix("/deployment/").removesuffix("/forward")
    lines = [
        "import numpy as np",
        "import tritonclient.http as httpclient",
        "",
        f"client = httpclient.InferenceServerClient({parts.netloc!r}"
        + (", ssl=True)" if parts.scheme == "https" else ")"),
        'headers = {"Authorization": "Bearer <your token>"}',
        "",
        "inputs = []",
    ]
    for f in face.inputs:
        info = input_info(f)
        value = row[f.api_name]
        if f.feature.type == "image":
            data = 'np.array([[open("image.png", "rb").read()]], dtype=object)'
        elif info.datatype == "BYTES":
            data = f"np.array([[{value!r}]], dtype=object)"
        else:
            flat = value["data"] if isinstance(value, dict) else [value]
            dtype = np.dtype(f.codec.dtype).name
            data = f"np.array({flat!r}, dtype=np.{dtype}).reshape({[1, *info.shape[1:]]!r})"
        lines += [
            f"x = httpclient.InferInput({info.name!r}, {[1, *info.shape[1:]]!r}, "
            f"{info.datatype!r})",
            f"x.set_data_from_numpy({data})",
            "inputs.append(x)",
        ]
    lines += ["", f"result = client.infer({deployment_id!r}, inputs, headers=headers)"]
    for f in face.outputs:
        lines.append(f"print(result.as_numpy({f.api_name!r}))")
    return "\n".join(lines)


def model_data(model: ModelVersion) -> dict[str, Any]:
    return model.to_dict()


def public_base_url(registry: Registry, settings: Settings) -> str:
    """The base URL of the deployment URLs shown: the one set (`public_url`), else the one
    the newest server recorded (so a CLI on the same registry prints the server's port and
    host, not its own defaults), else this process's own."""
    return settings.public_url.rstrip("/") or registry.served_url() or settings.base_url


def deployment_data(
    registry: Registry,
    settings: Settings,
    deployment: Deployment,
    token: str | None = None,
    *,
    load_error: str | None = None,
    providers: list[str] | None = None,
) -> dict[str, Any]:
    """A deployment as the management API, the pages and the CLI's `--json` show it.

    The token is never stored readable: it is only here when just made (`token`).
    `load_error` is why its model could not be loaded, where the caller knows; `providers`
    the execution providers that run it, where the caller knows (else those the settings
    choose on this machine).
    """
    data = deployment.to_dict()
    base = public_base_url(registry, settings)
    data["url"] = f"{base}/deployment/{deployment.id}/forward"
    data["spec_url"] = f"{base}/deployment/{deployment.id}/openapi.json"
    # The Open Inference Protocol's model: metadata here, inference at .../infer.
    data["oip_url"] = f"{base}/v2/models/{deployment.id}"
    data["model_name"] = deployment.model.name
    data["model_version"] = deployment.model.version
    data["features"] = features(interface(registry, deployment))
    data["effective_limits"] = Limits.of(deployment.limits, settings).to_dict()
    data["usage"] = shown(registry.usage(deployment.id))
    data["load_error"] = load_error
    data["execution_providers"] = providers or chosen_providers(settings.execution_providers)
    if token is not None:
        data["token"] = token
    return data
