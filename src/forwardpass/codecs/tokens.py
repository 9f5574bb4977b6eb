"""Tokenized text: a JSON string in, the token tensors of a transformer out.

The tokenizer is the `tokenizers` library's, from the `tokenizer.json` the model file
carries (see `TokenizerSettings`). A batch is encoded in one call, in the model's thread
(the rows codec decodes there), cut to the model's maximum length and padded on the right
to the longest row of the batch, not to the maximum: a batch of short sentences costs the
model short sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from forwardpass.codecs.text import TextCodec, TextOptions
from forwardpass.errors import BadData, InternalError, at
from forwardpass.model.signature import Feature, TokenizerSettings


class TokensCodec(TextCodec):
    """A text input that feeds several tensors: `tokenize`, not `decode`, makes its feeds."""

    def __init__(self, feature: Feature, dtype: np.dtype, options: TextOptions | None = None):
        super().__init__(feature, dtype, options)
        settings = feature.tokenizer
        assert settings is not None
        self.settings: TokenizerSettings = settings
        source = self.options.tokenizers.get(settings.metadata)
        # None where only the spec is wanted (a description): nothing is tokenized there.
        self.tokenizer = _tokenizer(source, settings) if source is not None else None

    def decode(self, values: Sequence[Any]) -> np.ndarray:
        raise NotImplementedError("a tokenized text feeds several tensors: use tokenize")

    def tokenize(self, values: Sequence[Any]) -> dict[str, np.ndarray]:
        """The feeds of the model's token tensors for one text per row."""
        self.check(values)
        if self.tokenizer is None:
            raise InternalError("the model's tokenizer is not loaded")
        try:
            encodings = self.tokenizer.encode_batch(values)
        except Exception:
            raise BadData(at(self._refused(values), self.feature.name, _REFUSED)) from None
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        return {
            tensor: np.array(columns[role], dtype=self.dtype)
            for role, tensor in self.settings.tensors.items()
        }

    def _refused(self, values: Sequence[str]) -> int | None:
        """The row the tokenizer refuses alone (a lone surrogate: not text Rust can hold)."""
        assert self.tokenizer is not None
        for row, value in enumerate(values):
            try:
                self.tokenizer.encode(value)
            except Exception:
                return row
        return None

    def schema(self) -> dict[str, Any]:
        return {
            "type": "string",
            "description": f"Cut to the model's first {self.settings.max_length} tokens.",
        }


_REFUSED = "is not text the tokenizer can read (a lone surrogate?)"


def _tokenizer(source: str, settings: TokenizerSettings) -> Tokenizer:
    tokenizer = Tokenizer.from_str(source)
    tokenizer.enable_truncation(settings.max_length)
    # No length: each batch is padded to its longest row.
    tokenizer.enable_padding(direction="right", pad_id=settings.pad_id)
    return tokenizer
