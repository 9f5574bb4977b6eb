"""Batching: requests that reach a busy model run together as one batch.

`batcher.Batcher` (one per model version, with its thread), `run.run_batch` (one batch:
decode per codec, one model call, encode, each request's error its own), `future.EagerFuture`
(the answer, woken in the same loop pass) and `timing.Timing` (where a request's time went).
"""
