"""Import a Hugging Face `transformers` model saved with `save_pretrained`, tokenizer and all.

Needs the optional extra `forwardpass[transformers]` (transformers, torch and onnxscript).
The folder holds the config, the weights and the tokenizer files. A sequence classifier
(its config names a `...ForSequenceClassification` architecture) answers a categorical
output over the config's `id2label`, scored as transformers' text-classification pipeline
scores (softmax, or sigmoid for one label or multi-label problems); any other model
answers a sentence embedding, the mean of its last hidden states over the attention mask,
scaled to length 1 when `normalize` is set::

    from forwardpass.importers import transformers as importer
    open("reviews.onnx", "wb").write(importer.import_folder(Path("./my-model-folder")))

or `forwardpass model import ./my-model-folder --name reviews`.

The graph is exported with torch's ONNX exporter, its batch and sequence dimensions open.
The fast tokenizer's `tokenizer.json` travels in the model file's metadata and the text
input's signature says how to use it (`TokenizerSettings`): the server runs it with the
`tokenizers` library and needs no `transformers`.
"""

from __future__ import annotations

import inspect
import tempfile
import warnings
from pathlib import Path
from typing import Any

import onnx

from forwardpass.errors import BadData
from forwardpass.importers import onnx as onnx_importer
from forwardpass.model import signature as sig

try:
    import torch
    import transformers
except ImportError as exc:  # pragma: no cover - the extra is installed in CI
    raise ImportError(
        "the transformers importer needs transformers and torch: "
        "pip install 'forwardpass[transformers]'"
    ) from exc

TASKS = ("classification", "embedding")
_OPSET = 17
#: Position tables beyond this are no real limit (a tokenizer without one says 1e30).
_NO_LIMIT = 1_000_000
# Two rows of different lengths: the exporter keeps both dimensions open, none is 0 or 1.
_EXAMPLES = ["a short text", "a somewhat longer text, to give the example rows two lengths"]


def import_folder(
    folder: Path,
    *,
    task: str | None = None,
    normalize: bool = False,
    input_name: str = "text",
    output_name: str | None = None,
) -> bytes:
    """A forwardpass model file (its bytes) from a folder `save_pretrained` wrote."""
    return bytes(
        to_onnx(
            folder, task=task, normalize=normalize, input_name=input_name, output_name=output_name
        ).SerializeToString()
    )


def to_onnx(
    folder: Path,
    *,
    task: str | None = None,
    normalize: bool = False,
    input_name: str = "text",
    output_name: str | None = None,
) -> onnx.ModelProto:
    """The model of `folder` as ONNX with its tokenizer and signature.

    `task` is "classification" or "embedding"; None chooses by the config's architecture.
    The output is named `output_name`, by default "label" for a classifier and
    "embedding" for an embedding.
    """
    config, tokenizer = _load(folder)
    if task is None:
        kinds = config.architectures or []
        classifies = any(a.endswith("ForSequenceClassification") for a in kinds)
        task = "classification" if classifies else "embedding"
    if task not in TASKS:
        raise BadData(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    auto = (
        transformers.AutoModelForSequenceClassification
        if task == "classification"
        else transformers.AutoModel
    )
    try:
        network = auto.from_pretrained(str(folder)).eval()
    except (OSError, ValueError) as exc:
        raise BadData(f"{folder.name}: transformers cannot load the model: {exc}") from None
    accepted = inspect.signature(network.forward).parameters
    given = tokenizer.model_input_names
    # In the order of the wrapper's forward, which takes them by position.
    roles = [r for r in sig.TOKEN_ROLES if r in given and r in accepted]
    if roles[:2] != ["input_ids", "attention_mask"]:
        raise BadData(
            f"{folder.name}: the model does not take input_ids and attention_mask from its "
            f"tokenizer (it gives {', '.join(given)})"
        )
    if task == "classification":
        module: torch.nn.Module = _Classifier(network, config)
        labels = [str(config.id2label[i]) for i in range(config.num_labels)]
        output = sig.Feature(
            output_name or "label", "categorical", (len(labels),), "scores", tuple(labels)
        )
    else:
        module = _Embedder(network, normalize)
        output = sig.Feature(output_name or "embedding", "numeric", (config.hidden_size,), "scores")
    model = _export(module, tokenizer, roles)
    tensors = {role: role for role in roles}
    settings = sig.TokenizerSettings(
        max_length=_max_length(config, tokenizer),
        tensors=tensors,
        pad_id=tokenizer.pad_token_id or 0,
    )
    entry = model.metadata_props.add()
    entry.key, entry.value = settings.metadata, tokenizer.backend_tokenizer.to_str()
    text = sig.Feature(input_name, "text", (1,), tensors["input_ids"], tokenizer=settings)
    return onnx_importer.prepare(model, sig.Signature((text,), (output,)))


def _load(folder: Path) -> tuple[Any, Any]:
    """The folder's config and its fast tokenizer (the one `tokenizers` can run alone)."""
    try:
        config = transformers.AutoConfig.from_pretrained(str(folder))
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    except (OSError, ValueError) as exc:
        raise BadData(f"{folder.name}: not a transformers model folder: {exc}") from None
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise BadData(
            f"{folder.name}: its tokenizer has no tokenizer.json (a fast tokenizer), which "
            "forwardpass runs at serving time; save the model with a fast tokenizer"
        )
    return config, tokenizer


def _max_length(config: Any, tokenizer: Any) -> int:
    """The most tokens the model takes: the tokenizer's limit, within the position table."""
    limits = [
        n
        for n in (tokenizer.model_max_length, getattr(config, "max_position_embeddings", None))
        if isinstance(n, int) and 0 < n < _NO_LIMIT
    ]
    return min(limits, default=512)


class _Classifier(torch.nn.Module):
    """Scores as transformers' text-classification pipeline gives them."""

    def __init__(self, network: torch.nn.Module, config: Any) -> None:
        super().__init__()
        self.network = network
        self.sigmoid = config.num_labels == 1 or config.problem_type == "multi_label_classification"

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        feeds = _given(input_ids, attention_mask, token_type_ids)
        logits = self.network(**feeds).logits
        return torch.sigmoid(logits) if self.sigmoid else torch.softmax(logits, dim=-1)


class _Embedder(torch.nn.Module):
    """The mean of the last hidden states over the tokens the attention mask keeps."""

    def __init__(self, network: torch.nn.Module, normalize: bool) -> None:
        super().__init__()
        self.network = network
        self.normalize = normalize

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        feeds = _given(input_ids, attention_mask, token_type_ids)
        states: torch.Tensor = self.network(**feeds).last_hidden_state
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        weights = mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
        return pooled


def _given(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    token_type_ids: torch.Tensor | None,
) -> dict[str, torch.Tensor]:
    """The token tensors the model was given, by the names its forward takes."""
    feeds = {"input_ids": input_ids}
    if attention_mask is not None:
        feeds["attention_mask"] = attention_mask
    if token_type_ids is not None:
        feeds["token_type_ids"] = token_type_ids
    return feeds


def _export(module: torch.nn.Module, tokenizer: Any, roles: list[str]) -> onnx.ModelProto:
    """The module as ONNX, one input per token role, batch and sequence left open.

    Torch's TorchScript exporter, not its dynamo one: on a BERT-shaped model both give the
    same graph answers, and it exports in about a second where dynamo takes 15 to 40 s.
    """
    example = tokenizer(_EXAMPLES, padding=True, return_tensors="pt")
    args = tuple(example[role] for role in roles)
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings(), torch.no_grad():
        path = Path(folder) / "model.onnx"
        # The exporter's own deprecation notices are no concern of the caller's.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            path,
            input_names=roles,
            output_names=["scores"],
            dynamic_axes={
                **{role: {0: "batch", 1: "sequence"} for role in roles},
                "scores": {0: "batch"},
            },
            opset_version=_OPSET,
            dynamo=False,
        )
        return onnx.load(str(path))
