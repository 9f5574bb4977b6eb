"""Importers turn what people train with into a forwardpass model: one ONNX file whose
metadata carries its signature."""
