"""Rows of named features to tensors and back, under a deployment's API names.

`RowCodec` is built once per deployment (its model's signature plus the names the
deployment gives the features in its API) and does the whole conversion of a request in
one pass per feature: one numpy column per input, one JSON value per row per output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from forwardpass.codecs import Codec, ImageOptions, TextOptions, TokensCodec, codec_for
from forwardpass.codecs.base import json_type
from forwardpass.errors import FeatureNotFound, JsonPropertyTypeMismatch, at
from forwardpass.model import signature as sig
from forwardpass.model.graph import Tensor


def _shaped(array: np.ndarray, shape: tuple[int, ...], count: int) -> np.ndarray:
    """A column block `[count, size]` in the dimensions its graph input takes."""
    return array if array.shape[1:] == shape else array.reshape((count, *shape))


def require_list(rows: Any) -> list[Any]:
    """`rows` if it is a list; the contract's error for the "rows" of a body otherwise."""
    if type(rows) is not list:
        raise JsonPropertyTypeMismatch(f'"rows" must be a list, got {json_type(rows)}')
    return rows


@dataclass(frozen=True)
class Field:
    """A feature as the API sees it: the name clients use and the codec of its type."""

    api_name: str
    feature: sig.Feature
    codec: Codec


@dataclass(frozen=True)
class _Group:
    tensor: Tensor
    fields: tuple[Field, ...]

    def item_shape(self) -> tuple[int, ...]:
        dims = self.tensor.item_dims
        if None not in dims:
            return tuple(d for d in dims if d is not None)
        # An open example dimension: the features' own shapes say what the graph gets.
        if len(self.fields) == 1:
            feature = self.fields[0].feature
            return feature.image.tensor_shape if feature.image else feature.shape
        return (sum(f.feature.size for f in self.fields),)


class RowCodec:
    """Decodes request rows into the feeds of a model and encodes its outputs as rows."""

    def __init__(
        self,
        signature: sig.Signature,
        inputs: Mapping[str, Tensor],
        outputs: Mapping[str, Tensor],
        api_names: Mapping[str, Mapping[str, str]] | None = None,
        images: ImageOptions | None = None,
        texts: TextOptions | None = None,
    ) -> None:
        """`api_names` maps "inputs" and "outputs" to {feature name: name in the API};
        `images` gives image codecs the deployment's limits and transformation, `texts`
        text codecs the text limit and the model's tokenizers."""
        renames = api_names or {}

        def groups(
            features: tuple[sig.Feature, ...], tensors: Mapping[str, Tensor], side: str
        ) -> list[_Group]:
            names = renames.get(side, {})
            return [
                _Group(
                    tensors[tensor],
                    tuple(
                        Field(
                            names.get(f.name, f.name),
                            f,
                            codec_for(f, tensors[tensor].dtype, images, texts),
                        )
                        for f in members
                    ),
                )
                for tensor, members in sig.groups(features).items()
            ]

        self._in = groups(signature.inputs, inputs, "inputs")
        self._out = groups(signature.outputs, outputs, "outputs")
        self.inputs = [field for g in self._in for field in g.fields]
        self.outputs = [field for g in self._out for field in g.fields]
        self._input_names = {f.api_name for f in self.inputs}
        self._output_names = [f.api_name for f in self.outputs]
        # What decode does per group, worked out once: a 1-row request's decode was mostly
        # this bookkeeping (bench/PROFILE.md).
        self._decoders = [
            (g.tensor.name, g.item_shape(), [(f.api_name, f.codec.decode) for f in g.fields])
            for g in self._in
            if not isinstance(g.fields[0].codec, TokensCodec)
        ]
        #: A tokenized text feeds several tensors of the batch's own length (codecs.tokens).
        self._tokenizers = [
            (f.api_name, f.codec.tokenize) for f in self.inputs if isinstance(f.codec, TokensCodec)
        ]
        #: Decoding images is slow enough to leave the event loop for (see Live.predict).
        self.decodes_images = any(f.feature.type == "image" for f in self.inputs)

    def decode(self, rows: Any) -> dict[str, np.ndarray]:
        """Feeds for the model from a list of row objects; raises on the first faulty value."""
        require_list(rows)
        count = len(rows)
        # Every row an object with no unknown key is checked in two steps that run in C: here
        # the count of keys (too many means an unknown one), and in `_column` the lookups
        # (a row that is not an object fails them). A Python loop over the rows cost more
        # than the rest of a 100-row decode's checks together (bench/PROFILE.md).
        try:
            keys = sum(map(len, rows))
        except TypeError:  # a row with no length is not an object
            keys = -1
        if keys != count * len(self.inputs):
            self._check_rows(rows)
        feeds: dict[str, np.ndarray] = {}
        for tensor, shape, fields in self._decoders:
            if len(fields) == 1:
                name, decode = fields[0]
                array = decode(self._column(rows, name))
            else:
                array = np.hstack([decode(self._column(rows, name)) for name, decode in fields])
            feeds[tensor] = _shaped(array, shape, count)
        for name, tokenize in self._tokenizers:
            feeds.update(tokenize(self._column(rows, name)))
        return feeds

    def assemble(self, columns: Mapping[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
        """Feeds for the model from one decoded column `[count, size]` per input, by API
        name, as the feature codecs return them (a tensor request's inputs)."""
        feeds: dict[str, np.ndarray] = {}
        for tensor, shape, fields in self._decoders:
            if len(fields) == 1:
                array = columns[fields[0][0]]
            else:
                array = np.hstack([columns[name] for name, _ in fields])
            feeds[tensor] = _shaped(array, shape, count)
        for name, tokenize in self._tokenizers:
            feeds.update(tokenize([str(text) for text in np.asarray(columns[name]).ravel()]))
        return feeds

    def _check_rows(self, rows: list[Any]) -> None:
        """Raise for the first row that is not an object, else for the first unknown feature.
        If neither is there, a feature is missing, and `_column` says which."""
        for index, row in enumerate(rows):
            if type(row) is not dict:
                raise JsonPropertyTypeMismatch(
                    at(index, None, f"a row must be an object, got {json_type(row)}")
                )
        for index, row in enumerate(rows):
            for key in row:
                if key not in self._input_names:
                    raise FeatureNotFound(
                        at(
                            index,
                            key,
                            f"not an input of this deployment; the inputs are {self._listing()}",
                        )
                    )

    def _column(self, rows: list[dict[str, Any]], name: str) -> list[Any]:
        try:
            return [row[name] for row in rows]
        except (KeyError, TypeError):
            self._check_rows(rows)
            index = next(i for i, row in enumerate(rows) if name not in row)
            raise FeatureNotFound(
                at(index, name, f"missing; the inputs are {self._listing()}")
            ) from None

    def _listing(self) -> str:
        return ", ".join(repr(f.api_name) for f in self.inputs)

    def from_form(self, form: Mapping[str, str | bytes]) -> dict[str, Any]:
        """One row from the fields of a multipart or urlencoded form (bytes: a file part)."""
        by_name = {f.api_name: f for f in self.inputs}
        row: dict[str, Any] = {}
        for key, text in form.items():
            field = by_name.get(key)
            if field is None:
                raise FeatureNotFound(
                    at(
                        None,
                        key,
                        f"not an input of this deployment; the inputs are {self._listing()}",
                    )
                )
            codec = field.codec
            row[key] = codec.from_file(text) if isinstance(text, bytes) else codec.from_form(text)
        return row

    def encode(self, outputs: Mapping[str, np.ndarray], count: int) -> list[dict[str, Any]]:
        """One row object per example from the model's output tensors."""
        columns = [f.codec.encode(array) for f, array in self.output_columns(outputs, count)]
        names = self._output_names
        if len(names) == 1:
            # Most models have one output: a dict display per row is several times faster
            # than dict(zip(...)), which was the largest item of a 100-row answer's profile.
            name, column = names[0], columns[0]
            return [{name: value} for value in column]
        # Every column has `count` values and one column per name, by construction.
        return [dict(zip(names, values, strict=False)) for values in zip(*columns, strict=True)]

    def output_columns(
        self, outputs: Mapping[str, np.ndarray], count: int
    ) -> list[tuple[Field, np.ndarray]]:
        """Each output feature with its values `[count, size]`, cut from the model's output
        tensors (a group's tensor holds several features side by side)."""
        columns: list[tuple[Field, np.ndarray]] = []
        for group in self._out:
            found = outputs.get(group.tensor.name)
            if count:
                assert found is not None
                array = found.reshape(count, -1)
            else:  # nothing was run for no examples
                array = np.zeros((0, sum(f.feature.size for f in group.fields)), group.tensor.dtype)
            offset = 0
            for f in group.fields:
                size = f.feature.size
                columns.append((f, array[:, offset : offset + size]))
                offset += size
        return columns
