"""Which ONNX Runtime execution providers run the models (`FORWARDPASS_EXECUTION_PROVIDERS`).

Unset, a node runs on CUDA when this ONNX Runtime has it (the `onnxruntime-gpu` build of the
`[gpu]` extra) and a GPU is visible to the process, else on the CPU, as BentoML decides.
A named provider that this ONNX Runtime does not know, or cannot use, is an error at start
rather than a silent fall back to the CPU.
"""

from __future__ import annotations

import os
from pathlib import Path

import onnxruntime as ort

from forwardpass.errors import ProviderUnavailable

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
#: Where the NVIDIA driver lists the GPUs this machine (or container) sees.
_NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")


def gpu_visible() -> bool:
    if os.environ.get("CUDA_VISIBLE_DEVICES", "").strip() in ("-1", "none"):
        return False
    try:
        return any(_NVIDIA_GPUS.iterdir())
    except OSError:
        return False


def chosen(setting: str) -> list[str]:
    """The providers of `setting` (comma separated, in order of preference), checked; the
    default when it is empty."""
    names = [name.strip() for name in setting.split(",") if name.strip()]
    available = ort.get_available_providers()
    if not names:
        return [CUDA, CPU] if CUDA in available and gpu_visible() else [CPU]
    for name in names:
        if name not in ort.get_all_providers():
            raise ProviderUnavailable(
                f"FORWARDPASS_EXECUTION_PROVIDERS: {name!r} is not an ONNX Runtime execution "
                f"provider (this build has {', '.join(available)})"
            )
        if name not in available:
            hint = " (install forwardpass[gpu], onnxruntime-gpu)" if name == CUDA else ""
            raise ProviderUnavailable(
                f"FORWARDPASS_EXECUTION_PROVIDERS: {name} is not available in this ONNX Runtime"
                f"{hint}; it has {', '.join(available)}"
            )
    if CUDA in names and not gpu_visible():
        raise ProviderUnavailable(
            "FORWARDPASS_EXECUTION_PROVIDERS names CUDAExecutionProvider, but no GPU is visible"
        )
    return names
