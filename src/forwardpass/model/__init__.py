"""A model's own facts: its signature (`signature`) and what its ONNX graph says (`graph`)."""
