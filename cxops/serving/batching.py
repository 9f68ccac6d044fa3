"""Adaptive batching of model calls: requests that arrive while the model is scoring wait together and are scored
in one call, up to a batch size and a wait limit; each request gets exactly its own rows back.

The pyfunc path (any MLflow model: a scikit-learn pipeline, a PyTorch network) pays a fixed cost per model call,
about 1-2 ms here, whatever the rows. Scored one request at a time, every other request waits in line behind it;
scored together, the fixed cost is paid once per batch. As in MLServer's adaptive batching and Triton's dynamic
batcher, a batch is closed when it holds `max_batch_size` rows or its first request has waited `max_wait_ms`;
whatever arrives while a batch is being scored forms the next one. The wait is adaptive: a batch waits only while
it holds fewer requests than the one before it (`Batcher._gather`), so a lone client is never held back.

Without contention batching costs nothing: when no request is waiting, being gathered or being scored, and the
last batch was a single request (`Batcher.idle`), and no other connection has a request waiting to be read
(cxops.serving.direct checks), the direct path scores the request at once on the event loop
(`Batcher.score_inline`), as the unbatched server does: no queue, no task, no thread hop. A request that finds the
batcher busy, or others waiting, goes through uvicorn's ASGI cycle to the queue (`Batcher.defer` keeps the gate shut
until it is there); after a batch of several requests, requests queue until a batch of one, so under load every
request is batched as before and only the first request after the load pays the queue.

- A batch's model call runs in a worker thread (one: a server process is one replica, and a second call beside the
  first only contends for the same cores), so the event loop goes on reading and validating requests meanwhile. An
  inline call runs only while the worker thread is idle, so the model is never called twice at once.
- Requests are validated before they join (cxops.serving.protocols): bad input never reaches the model, and never
  fails another request's batch.
- The rows of a batch are the requests' rows in arrival order; request i gets rows [start_i, start_i + n_i) of the
  output, checked there for finite scores: one request whose inputs overflow the model is refused alone. This
  relies on the model scoring each row independently of the others in its call (true of scikit-learn's predictors
  and of a network in eval mode; a model that normalises over its batch would be wrong to batch).
- A model call that raises fails the requests of that batch only, each with its own ModelFailed (a new exception
  per request, chained to the model's), and the next batch is scored as usual.
- `cxops_serving_batch_size` (histogram, rows per model call) and `cxops_serving_batch_requests` (histogram,
  requests per model call; an inline call is a batch of one) are exported beside the server's per-request metrics;
  those stay per request, from each request's own arrival. `cxops_serving_batch_inline_calls_total` (counter) counts
  the model calls scored inline on the event loop (above).

Settings: cxops.serving.batch_settings (cxops.yaml `serving.batching`, per environment
`environments.<env>.batching`).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from cxops.serving.batch_settings import BatchSettings
from cxops.serving.metrics import Buckets
from cxops.serving.protocols import BadRequest

if TYPE_CHECKING:
    from cxops.serving.model_dir import LoadedModel

# rows (and requests) per model call: powers of two up to the largest batch cxops.yaml allows
SIZE_BUCKETS = tuple(float(2**i) for i in range(0, 17))


class ModelFailed(Exception):
    """The model raised while scoring the batch this request was in (one instance per request)."""


# What the batcher calls: the rows of a whole batch, (rows, *row_shape) float64, to class probabilities
# (rows, classes) float64. Any exception is the model's and fails that batch.
Predict = Callable[[np.ndarray], np.ndarray]
Rows = list[list[float]]


class _Pending:
    __slots__ = ("X", "future")

    def __init__(self, X: np.ndarray, future: asyncio.Future[Rows]) -> None:
        self.X = X
        self.future = future


class BatchMetrics(Collector):
    """`cxops_serving_batch_size` (rows per model call) and `cxops_serving_batch_requests` (requests per model
    call), histograms, and `cxops_serving_batch_inline_calls_total` (model calls scored inline, without the queue
    or the worker thread), a counter; updated on the event loop thread only, like cxops.serving.metrics."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.rows = Buckets(SIZE_BUCKETS)
        self.requests = Buckets(SIZE_BUCKETS)
        self.inline = 0
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        for name, doc, series in (
            ("cxops_serving_batch_size", "rows per batched model call", self.rows),
            ("cxops_serving_batch_requests", "requests per batched model call", self.requests),
        ):
            family = HistogramMetricFamily(name, doc)
            family.add_metric([], series.cumulative(), series.sum)
            yield family
        yield CounterMetricFamily(
            "cxops_serving_batch_inline_calls",
            "batched model calls scored inline on the event loop (no other request waiting or scored)",
            self.inline,
        )


class Batcher:
    """Scores requests' rows in adaptive batches (module docstring). `await score(X)` from the event loop; the
    batching task starts with the first request on the running loop."""

    def __init__(self, predict: Predict, settings: BatchSettings, registry: CollectorRegistry) -> None:
        self.predict = predict
        self.max_rows = settings.max_batch_size
        self.max_wait = settings.max_wait_ms / 1000
        self.metrics = BatchMetrics(registry)
        self._waiting: deque[_Pending] = deque()
        self._expect = 1  # requests in the last batch: a batch waits (up to max_wait) only to reach as many
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cxops-batch")
        self._open = 0  # requests in `score`: queued, in a batch being gathered or scored, or not yet resumed
        self._deferred = False  # a request is on its way to the queue through the ASGI cycle (`defer`)
        self._scoring = False  # a batch is in the worker thread (its requests may have been cancelled meanwhile)

    def idle(self) -> bool:
        """No request is queued, gathered, being scored or on its way to the queue, and the last batch was one
        request: one scored inline now (`score_inline`) makes no other wait, and never calls the model beside the
        worker thread. After a batch of several (load), requests queue until a batch of one says the load is
        over, so under steady load every request is batched as if there were no inline path."""
        return self._open == 0 and not self._deferred and not self._scoring and self._expect == 1

    def defer(self) -> None:
        """A request goes to the queue through uvicorn's ASGI cycle: `idle` says False until the loop has run the
        callbacks already scheduled (the cycle's task among them, which queues the request in its first step), so
        requests read meanwhile follow it to the queue instead of being scored inline ahead of it."""
        if not self._deferred:
            self._deferred = True
            asyncio.get_running_loop().call_soon(self._undefer)

    def _undefer(self) -> None:
        self._deferred = False

    def score_inline(self, X: np.ndarray) -> Rows:
        """`score` at once on the calling thread (the event loop), as a batch of one request: for a request that
        finds the batcher `idle` and no other request waiting to be read (cxops.serving.direct). Same results,
        errors and batch metrics as `score`; it blocks the loop for the model call, as the unbatched path does."""
        self.metrics.requests.observe(1)
        self.metrics.rows.observe(len(X))
        self.metrics.inline += 1
        try:
            (result,) = self._score([X])
        except Exception as exc:  # the model's: this request alone fails, as its batch would
            raise _failed(1, exc) from exc
        if isinstance(result, FloatingPointError):
            raise result
        return result

    async def score(self, X: np.ndarray) -> Rows:
        """Class probabilities of these validated rows, as lists (rows of per-class floats), scored in a batch with
        whatever else is waiting. Raises FloatingPointError when this request's scores are not finite (its inputs
        are outside the model's numeric range), ModelFailed when the model raised on the batch."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._arrived = asyncio.Event()
            self._task = loop.create_task(self._run())
        future: asyncio.Future[Rows] = loop.create_future()
        self._waiting.append(_Pending(X, future))
        self._arrived.set()
        self._open += 1
        try:
            return await future
        finally:
            self._open -= 1

    async def proba(self, X: np.ndarray) -> Rows:
        """`score`, its failures as the server's refusals: 422 for scores that are not finite (as the unbatched
        path answers), 500 naming the model's error when the model raised on the batch."""
        try:
            return await self.score(X)
        except (FloatingPointError, ModelFailed) as exc:
            raise _refusal(exc) from exc

    def proba_inline(self, X: np.ndarray) -> Rows:
        """`score_inline`, its failures as `proba` refuses them."""
        try:
            return self.score_inline(X)
        except (FloatingPointError, ModelFailed) as exc:
            raise _refusal(exc) from exc

    async def _gather(self) -> list[_Pending]:
        """The next batch: the first waiting request, then every request already waiting, up to max_rows rows (a
        request that would pass that starts the next batch; one larger than max_rows is a batch of its own). While
        it holds fewer requests than the last batch did, it waits up to max_wait from its first request for more:
        under a steady load of N clients each batch fills to about N, and a lone client never waits (its last
        batch was 1)."""
        waiting, arrived = self._waiting, self._arrived
        while not waiting:
            arrived.clear()
            await arrived.wait()
        batch = [waiting.popleft()]
        rows = len(batch[0].X)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while rows < self.max_rows:
            if not waiting:
                if len(batch) >= self._expect:  # as many as last time: more are not on their way
                    break
                left = deadline - loop.time()
                if left <= 0:
                    break
                arrived.clear()
                try:
                    await asyncio.wait_for(arrived.wait(), left)
                except TimeoutError:
                    break
                continue
            if rows + len(waiting[0].X) > self.max_rows:
                break
            batch.append(waiting.popleft())
            rows += len(batch[-1].X)
        self._expect = len(batch)
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            self.metrics.requests.observe(len(batch))
            self.metrics.rows.observe(sum(len(p.X) for p in batch))
            self._scoring = True
            try:
                results = await loop.run_in_executor(self._pool, self._score, [p.X for p in batch])
            except Exception as exc:  # the model's: every request of this batch fails, each on its own
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(_failed(len(batch), exc))
                continue
            finally:
                self._scoring = False
            for p, result in zip(batch, results, strict=True):
                if p.future.done():  # the request was cancelled meanwhile
                    continue
                if isinstance(result, FloatingPointError):
                    p.future.set_exception(result)
                else:
                    p.future.set_result(result)

    def _score(self, parts: list[np.ndarray]) -> list[Rows | FloatingPointError]:
        """In the worker thread (on the loop for `score_inline`): one model call over the requests' rows, split
        back per request (each slice checked for finite scores and turned into lists here, off the event loop)."""
        X = parts[0] if len(parts) == 1 else np.concatenate(parts)
        proba = np.asarray(self.predict(X), dtype=np.float64)
        if proba.shape[0] != len(X):
            raise ValueError(f"the model returned {proba.shape[0]} rows for {len(X)}")
        out: list[Rows | FloatingPointError] = []
        start = 0
        for part in parts:
            mine = proba[start : start + len(part)]
            start += len(part)
            if not math.isfinite(np.add.reduce(mine, axis=None)):
                out.append(FloatingPointError("the model's scores overflow (not finite)"))
            else:
                out.append(mine.tolist())
        return out

    def close(self) -> None:
        """Stop the batching task and the worker thread (requests still waiting are cancelled)."""
        if self._task is not None:
            self._task.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _failed(requests: int, exc: Exception) -> ModelFailed:
    """A request's own ModelFailed for the model's `exc` on a batch of `requests` requests, chained to it."""
    failed = ModelFailed(f"the model failed on a batch of {requests} requests: {type(exc).__name__}: {exc}")
    failed.__cause__ = exc
    return failed


def _refusal(exc: FloatingPointError | ModelFailed) -> BadRequest:
    """The server's refusal of a request the batcher failed: 422 for scores that are not finite (as the unbatched
    path answers), 500 naming the model's error."""
    if isinstance(exc, FloatingPointError):
        return BadRequest(f"inputs outside the model's numeric range: {exc}")
    return BadRequest(str(exc), 500)


def batcher_for(
    model: LoadedModel | None, settings: BatchSettings | None, registry: CollectorRegistry
) -> Batcher | None:
    """The Batcher of a loaded pyfunc model when `settings` enable batching, else None: nothing to batch without a
    model, and the linear fast path is never batched (its call, a few microseconds, costs less than the wait and
    the hand-over to a worker thread would)."""
    if model is None or settings is None or not settings.enabled or model.pyfunc is None:
        return None
    return Batcher(model.pyfunc.proba, settings, registry)
