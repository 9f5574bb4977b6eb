"""The deployments a serving process holds in memory, kept in step with the registry.

The prediction path reads only this cache. A background task asks the registry for its
change counter every `refresh_seconds`, and reloads what changed: a disable, a rotated token,
a deleted deployment or a new model version reach every process within a second.

Each model version in memory has one `Batcher`, with its model thread, shared by every
deployment of that version; each deployment has its own `RowCodec` (its API names and
image options). `Live.predict` hands a request's rows to the batcher, which decodes, runs
and encodes them per batch in the model thread. When a refresh drops a model version its
batcher is closed, and its thread ends once the requests still queued are answered;
`close` does that for every model, at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from forwardpass.batching.batcher import Batcher
from forwardpass.batching.run import Answer, Columns, Outputs, Rows
from forwardpass.batching.timing import Timing
from forwardpass.codecs import ImageOptions, TextOptions
from forwardpass.codecs.rows import RowCodec, require_list
from forwardpass.codecs.tensors import TensorCodec
from forwardpass.errors import ForwardpassError, ModelNotLoaded
from forwardpass.limits.pixels import PixelBudget
from forwardpass.limits.plan import Limits
from forwardpass.registry import Deployment, Registry
from forwardpass.registry.changes import ChangeListener, can_listen
from forwardpass.runtime import Model, default_threads, providers
from forwardpass.runtime.deadlines import DEADLINES
from forwardpass.settings import Settings

T = TypeVar("T")

log = logging.getLogger("forwardpass.serving.served")

#: How often a process that gets the registry's notifications still polls it: only a safety
#: net, since a listener that reconnects refreshes at once.
NOTIFIED_POLL_SECONDS = 30.0


@dataclass(frozen=True)
class Loaded:
    """A model version in memory, with the batcher every deployment of it shares."""

    model: Model
    batcher: Batcher


@dataclass(frozen=True)
class Live:
    """A deployment as the prediction path needs it."""

    id: str
    revision: int
    token_hash: str
    enabled: bool
    sha256: str
    interface: RowCodec | None  # None while disabled: its model need not be in memory
    batcher: Batcher | None
    limits: Limits
    pixels: PixelBudget  # the process's, shared by every deployment's images
    load_error: str | None = None  # why its model could not be loaded (then not served)
    tensors: TensorCodec | None = None  # its features as tensors; None as `interface`
    model_version: int = 0  # the version number of its model, in the registry

    async def decode_images(self, decode: Callable[[], T]) -> T:
        """`decode`, of a request that holds images, off the event loop in the pixel
        budget's threads (limits/pixels.py says why not in asyncio's)."""
        return await self.pixels.run(self.id, decode)

    def require_loaded(self) -> None:
        """Raise `ModelNotLoaded` if this enabled deployment's model failed to load."""
        if self.load_error is not None:
            raise ModelNotLoaded(f"the deployment's model could not be loaded: {self.load_error}")

    @overload
    async def predict(
        self, rows: Columns, timing: Timing | None = None, gone: Callable[[], bool] | None = None
    ) -> Outputs: ...

    @overload
    async def predict(
        self, rows: Any, timing: Timing | None = None, gone: Callable[[], bool] | None = None
    ) -> Rows: ...

    async def predict(
        self,
        rows: Any,
        timing: Timing | None = None,
        gone: Callable[[], bool] | None = None,
    ) -> Answer:
        """Predictions for `rows`; `timing` (started by the caller) gets each phase's time,
        and `gone` says whether the client has left (see `Batcher.submit`). `Columns`
        (rows a way in decoded itself) are answered with their slice of the model's outputs."""
        self.require_loaded()
        interface, batcher = self.interface, self.batcher
        assert interface is not None and batcher is not None
        if type(rows) is Columns:
            if timing is not None:
                timing.decode = time.perf_counter() - timing.started
            if not rows.count:
                return {}
            return await batcher.submit(
                interface,
                [],
                timing,
                feeds=rows.feeds,
                prepare=rows.decode,
                gone=gone,
                timeout=self.limits.run_timeout,
                count=rows.count,
                raw=True,
            )
        feeds = None
        if interface.decodes_images:
            feeds = await self.decode_images(functools.partial(interface.decode, rows))
        else:
            require_list(rows)  # the rest of decoding is done per batch, in the model thread
        if timing is not None:
            timing.decode = time.perf_counter() - timing.started
        if not rows:
            return []
        return await batcher.submit(
            interface, rows, timing, feeds=feeds, gone=gone, timeout=self.limits.run_timeout
        )


class ServedDeployments:
    def __init__(
        self,
        registry: Registry,
        settings: Settings,
        observe_batch: Callable[[str], Callable[[int, int], None]] | None = None,
    ) -> None:
        """`observe_batch(model_sha256)` gives the batcher hook of a model, for metrics."""
        self.registry = registry
        self.settings = settings
        self.observe_batch = observe_batch
        #: The execution providers every model session gets; a bad setting fails here, at start.
        self.providers = providers.chosen(settings.execution_providers)
        self._live: dict[str, Live] = {}
        self._models: dict[str, Loaded] = {}
        self._generation: int | None = None
        self.ready = False
        # The background task and the pages both refresh; one at a time loads each model once.
        self._refreshing = threading.Lock()
        #: Shared by every deployment's images: what the process decodes at once.
        self.pixels = PixelBudget(settings.max_decoding_pixels)

    def get(self, deployment_id: str) -> Live | None:
        return self._live.get(deployment_id)

    def refresh(self) -> None:
        """Reload what changed in the registry since the last call (blocking: run in a thread)."""
        with self._refreshing:
            self._refresh()

    def _refresh(self) -> None:
        generation = self.registry.generation()
        if generation == self._generation:
            return
        found = self.registry.deployments()
        live: dict[str, Live] = {}
        for deployment in found:
            current = self._live.get(deployment.id)
            if (
                current is not None
                and current.revision == deployment.revision
                and current.sha256 == deployment.model.sha256
            ):
                live[deployment.id] = current
                continue
            try:
                live[deployment.id] = self._build(deployment)
            except Exception as exc:
                log.exception("could not load deployment %s", deployment.id)
                if current is not None and current.load_error is None:
                    live[deployment.id] = current  # a failed switch: the old version serves on
                else:
                    # Kept, so that it answers why instead of "no deployment"; tried again
                    # when the deployment changes.
                    live[deployment.id] = self._failed(deployment, exc)
        self._live = live
        in_use = {d.sha256 for d in live.values() if d.interface is not None}
        for sha, dropped in self._models.items():
            if sha not in in_use:
                dropped.batcher.close()
        self._models = {sha: m for sha, m in self._models.items() if sha in in_use}
        self._generation = generation
        self.ready = True

    def _build(self, deployment: Deployment) -> Live:
        interface, batcher = None, None
        tensors = None
        if deployment.enabled:
            loaded = self._load(deployment.model.sha256)
            interface = RowCodec(
                deployment.model.signature,
                loaded.model.inputs,
                loaded.model.outputs,
                deployment.api_names,
                ImageOptions(
                    max_bytes=self.settings.max_image_bytes,
                    max_pixels=self.settings.max_image_pixels,
                    max_request_pixels=self.settings.max_request_pixels,
                    transformation=deployment.image_transformation,
                    budget=self.pixels,
                    owner=deployment.id,
                ),
                TextOptions(
                    max_chars=self.settings.max_text_chars, tokenizers=loaded.model.tokenizers
                ),
            )
            batcher = loaded.batcher
            tensors = TensorCodec(interface)
        return self._live_of(deployment, interface, batcher, tensors=tensors)

    def _failed(self, deployment: Deployment, exc: Exception) -> Live:
        reason = exc.message if isinstance(exc, ForwardpassError) else str(exc)
        return self._live_of(deployment, None, None, load_error=_short(reason))

    def _live_of(
        self,
        deployment: Deployment,
        interface: RowCodec | None,
        batcher: Batcher | None,
        load_error: str | None = None,
        tensors: TensorCodec | None = None,
    ) -> Live:
        return Live(
            id=deployment.id,
            revision=deployment.revision,
            token_hash=deployment.token_hash,
            enabled=deployment.enabled,
            sha256=deployment.model.sha256,
            interface=interface,
            batcher=batcher,
            limits=Limits.of(deployment.limits, self.settings),
            pixels=self.pixels,
            load_error=load_error,
            tensors=tensors,
            model_version=deployment.model.version,
        )

    def providers_of(self, deployment_id: str) -> list[str] | None:
        """The execution providers that run the deployment's model (None: not in memory)."""
        live = self._live.get(deployment_id)
        loaded = self._models.get(live.sha256) if live is not None and live.interface else None
        return loaded.model.providers if loaded is not None else None

    def failures(self) -> dict[str, str]:
        """The deployments whose model failed to load, with the reason."""
        return {d.id: d.load_error for d in self._live.values() if d.load_error is not None}

    def _load(self, sha256: str) -> Loaded:
        loaded = self._models.get(sha256)
        if loaded is None:
            threads = self.settings.ort_threads or default_threads(self.settings.workers or 1)
            model = Model(
                self.registry.store.path(sha256),
                threads=threads,
                timeout=self.settings.run_timeout,
                providers=self.providers,
            )
            observe = self.observe_batch(sha256) if self.observe_batch else None
            batcher = Batcher(
                model.run,
                max_rows=self.settings.max_batch_rows,
                max_queue_rows=self.settings.max_queue_rows,
                observe=observe,
                name=sha256[:12],
            )
            loaded = self._models[sha256] = Loaded(model, batcher)
        return loaded

    def close(self) -> None:
        """Let every model's thread end once its queued requests are answered (at shutdown),
        and stop the model calls still running: a shutdown waits for no model."""
        for loaded in list(self._models.values()):
            loaded.batcher.close()
        DEADLINES.end_all()

    async def keep_fresh(self) -> None:
        """Refresh forever: when the registry announces a change (PostgreSQL), else every
        `refresh_seconds`; a registry that cannot be reached leaves the cache as it was."""
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()
        listener = None
        if can_listen(self.registry.engine):
            listener = ChangeListener(
                self.registry.engine,
                lambda: loop.call_soon_threadsafe(changed.set),
                self.settings.database_connect_timeout,
            )
            listener.start()
        try:
            while True:
                listening = listener is not None and listener.connected
                wait = NOTIFIED_POLL_SECONDS if listening else self.settings.refresh_seconds
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), wait)
                changed.clear()
                try:
                    await asyncio.to_thread(self.refresh)
                except Exception as exc:
                    log.warning("registry refresh failed, serving what is cached: %s", exc)
        finally:
            if listener is not None:
                listener.stop()


def _short(reason: str) -> str:
    # ORT prefixes its messages with the C++ source location, of no use to a reader.
    return reason.split("] ", 1)[-1][:500]
