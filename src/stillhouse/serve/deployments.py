"""Deployed models: loaded in the background, served by a small pool of worker threads.

A :class:`ModelPool` holds ``workers`` replicas of one model, each used by one thread at a time, so
at most ``workers`` generations run at once (CPU-bound work gains nothing from more) and further
requests wait in a bounded queue; past ``max_queue`` waiting requests the server answers
``ThrottlingException`` instead of piling up memory and latency. :class:`ModelRegistry` maps every
name a caller may use (deployment or provisioned-model ARN or name, custom model ARN or name,
catalog name, Bedrock foundation-model id) to a pool. Catalog models and foundation-model ids load
on first use; the ids are mapped to specs by :mod:`stillhouse.models.foundation` and share one pool
per spec (every teacher id mapped to the offline teacher is one loaded model).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal

from stillhouse.chat import ChatModel, Completion, GenerationParams, Message, stream_chat
from stillhouse.errors import (
    InvalidInputError,
    ModelError,
    ModelNotReadyError,
    NotFoundError,
    ServiceUnavailableError,
    StillhouseError,
    ThrottledError,
)

if TYPE_CHECKING:
    from stillhouse.models.foundation import FoundationTable

log = logging.getLogger(__name__)
ModelLoader = Callable[[str], ChatModel]
PoolStatus = Literal["Creating", "Active", "Failed"]
# Tokens a chat template adds around the messages (role markers, separators), kept free of the count.
_TEMPLATE_SLACK = 16


def default_loader(threads: int | None = None) -> ModelLoader:
    """``stillhouse.models.load_model`` with ``threads`` compute threads per replica (llama.cpp).

    Replicas times threads should not exceed the cores: llama.cpp's threads spin at barriers, and
    oversubscribed they lose far more time waiting for each other than they gain.
    """

    def load(spec: str) -> ChatModel:
        from stillhouse.models import load_model  # pulls in heavy backends lazily

        return load_model(spec, n_threads=threads)

    return load


class LengthCheck:
    """Refuses a prompt longer than the model's context before it waits for a replica.

    Only models that say their context (``n_ctx``) and count tokens (``count_tokens``) are checked.
    A token is at least one byte, so a prompt with fewer bytes than the context fits and is never
    tokenized; a longer one is counted off the event loop.
    """

    def __init__(self, context: int | None = None, count: Callable[[str], int] | None = None) -> None:
        self.context, self._count = context, count

    @classmethod
    def of(cls, model: ChatModel) -> LengthCheck:
        context, count = getattr(model, "n_ctx", None), getattr(model, "count_tokens", None)
        if isinstance(context, int) and context > 0 and callable(count):
            return cls(context, count)
        return cls()

    async def check(self, messages: list[Message]) -> None:
        if self.context is None or self._count is None:
            return
        text = "\n".join(m.content for m in messages)
        if len(text.encode("utf-8", "surrogatepass")) < self.context - _TEMPLATE_SLACK:
            return
        tokens = await asyncio.get_running_loop().run_in_executor(None, self._count, text)
        if tokens + _TEMPLATE_SLACK >= self.context:
            raise InvalidInputError(
                f"Input is too long for requested model. The input is {tokens} tokens; the model's "
                f"context window is {self.context}.",
                field="messages",
            )


class ModelPool:
    """``workers`` replicas of the model at ``spec``; ``generate`` awaits a free replica."""

    def __init__(
        self, name: str, spec: str, loader: ModelLoader, *, workers: int = 1, max_queue: int = 1024
    ) -> None:
        self.name = name
        self.spec = spec
        self.status: PoolStatus = "Creating"
        self.failure: str | None = None
        self.loaded: Future[None] = Future()
        self._loader = loader
        self._workers = workers
        self._max_queue = max_queue
        self._replicas: queue.SimpleQueue[ChatModel] = queue.SimpleQueue()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"model-{name[-24:]}")
        self._pending = 0
        self._closed = False
        self._lock = threading.Lock()
        self._length = LengthCheck()

    def load(self) -> None:
        """Build every replica (blocking). Sets ``status`` and resolves ``loaded`` either way."""
        try:
            for _ in range(self._workers):
                self._replicas.put(self._loader(self.spec))
        except Exception as exc:  # any loader failure marks the deployment Failed, with the reason
            self.status, self.failure = "Failed", str(exc) or type(exc).__name__
            log.warning("loading %s from %s failed: %s", self.name, self.spec, self.failure)
            self.loaded.set_exception(exc)
            return
        model = self._replicas.get()
        self._length = LengthCheck.of(model)
        self._replicas.put(model)
        self.status = "Active"
        self.loaded.set_result(None)

    def load_in_background(self, on_done: Callable[[ModelPool], None] | None = None) -> threading.Thread:
        """Start :meth:`load` on a daemon thread; ``on_done(pool)`` runs when it finishes."""

        def run() -> None:
            self.load()
            if on_done is not None:
                on_done(self)

        thread = threading.Thread(target=run, name=f"load-{self.name[-24:]}", daemon=True)
        thread.start()
        return thread

    async def generate(
        self, messages: list[Message], params: GenerationParams, *, wait_load: bool = False
    ) -> Completion:
        """One generation on a free replica. Refuses at once when not loaded (unless ``wait_load``)."""
        await self._admit(messages, wait_load)
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._run, messages, params)
        except asyncio.CancelledError:
            if self._closed:  # undeployed while this request waited in the queue
                raise ServiceUnavailableError(f"model {self.name} was undeployed") from None
            raise
        finally:
            self._release()

    async def stream(
        self, messages: list[Message], params: GenerationParams, *, wait_load: bool = False
    ) -> AsyncIterator[str | Completion]:
        """:meth:`generate` as text deltas then the Completion (``chat.stream_chat``), admitted the
        same way. A consumer that stops reading (a client gone) stops the generation at the model's
        next delta and frees the replica for the next request."""
        await self._admit(messages, wait_load)
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        cancel = threading.Event()

        def emit(kind: str, item: Any) -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(items.put_nowait, (kind, item))

        def finished(work: asyncio.Future[None]) -> None:
            # A stream whose work never ran (undeployed while it queued) or died outside the
            # model's own errors would otherwise leave the consumer waiting for ever.
            if work.cancelled():
                items.put_nowait(("error", ServiceUnavailableError(f"model {self.name} was undeployed")))
            elif (exc := work.exception()) is not None:
                items.put_nowait(("error", ModelError(f"model {self.name} failed: {exc}")))

        work = loop.run_in_executor(self._executor, self._run_stream, messages, params, emit, cancel)
        work.add_done_callback(finished)
        try:
            while (next_item := await items.get())[0] == "item":
                yield next_item[1]
            if next_item[0] == "error":
                raise next_item[1]
        finally:
            cancel.set()
            work.cancel()  # still queued for a replica: never starts
            self._release()

    async def _admit(self, messages: list[Message], wait_load: bool) -> None:
        """Refuse a request that cannot be served now, else count it in flight (``_release`` after)."""
        if self._closed:
            raise ServiceUnavailableError(f"model {self.name} was undeployed")
        if self.status == "Failed":
            raise InvalidInputError(f"model {self.name} failed to load: {self.failure}", field="modelId")
        if self.status == "Creating":
            if not wait_load:
                raise ModelNotReadyError(f"model {self.name} is still loading; retry shortly")
            await asyncio.wrap_future(self.loaded)
        await self._length.check(messages)  # before the request takes a place in the queue
        with self._lock:
            if self._pending >= self._max_queue + self._workers:
                raise ThrottledError(f"model {self.name} has {self._pending} requests in flight; retry later")
            self._pending += 1

    def _release(self) -> None:
        with self._lock:
            self._pending -= 1

    def _run(self, messages: list[Message], params: GenerationParams) -> Completion:
        model = self._replicas.get()  # never blocks long: one replica per executor thread
        try:
            return model.generate(messages, params)
        except StillhouseError:
            raise
        except Exception as exc:  # a backend's own exception is the model failing, not the server
            raise ModelError(f"model {self.name} failed: {exc}") from exc
        finally:
            self._replicas.put(model)

    def _run_stream(
        self,
        messages: list[Message],
        params: GenerationParams,
        emit: Callable[[str, Any], None],
        cancel: threading.Event,
    ) -> None:
        """Hand each streamed item to ``emit`` until the stream ends, fails or is cancelled."""
        if cancel.is_set():
            return
        model = self._replicas.get()
        items = stream_chat(model, messages, params)
        try:
            for item in items:
                if cancel.is_set():
                    return
                emit("item", item)
            emit("end", None)
        except StillhouseError as exc:
            emit("error", exc)
        except Exception as exc:  # a backend's own exception is the model failing, not the server
            emit("error", ModelError(f"model {self.name} failed: {exc}"))
        finally:
            items.close()  # stops the backend's generation when the consumer left early
            self._replicas.put(model)

    @property
    def pending(self) -> int:
        return self._pending

    def close(self) -> None:
        """Stop accepting work; running generations finish, their threads then exit."""
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)


class ModelRegistry:
    """Pools by key, and every alias a caller may use for them. Thread-safe."""

    def __init__(
        self,
        loader: ModelLoader,
        *,
        workers: int,
        max_queue: int,
        catalog_names: frozenset[str],
        foundation: FoundationTable | None = None,
    ) -> None:
        self._loader = loader
        self._workers = workers
        self._max_queue = max_queue
        self._catalog = catalog_names
        self.foundation = foundation
        self._pools: dict[str, ModelPool] = {}
        self._aliases: dict[str, str] = {}
        self._lock = threading.Lock()

    def deploy(
        self,
        key: str,
        spec: str,
        aliases: tuple[str, ...],
        on_done: Callable[[ModelPool], None] | None = None,
        *,
        workers: int | None = None,
    ) -> ModelPool:
        """Register a pool under ``key`` and ``aliases`` and start loading it in the background;
        ``workers`` replicas (default: the server's ``workers``; a provisioned model's units)."""
        pool = ModelPool(key, spec, self._loader, workers=workers or self._workers, max_queue=self._max_queue)
        with self._lock:
            old = self._pools.pop(key, None)
            self._pools[key] = pool
            for alias in (key, *aliases):
                self._aliases[alias] = key
        if old is not None:
            old.close()
        pool.load_in_background(on_done)
        return pool

    def realias(self, key: str, aliases: tuple[str, ...]) -> None:
        """Replace the names a pool answers to (a renamed provisioned model); its key stays."""
        with self._lock:
            for alias in [a for a, k in self._aliases.items() if k == key and a != key]:
                del self._aliases[alias]
            for alias in aliases:
                self._aliases[alias] = key

    def remove(self, key: str) -> None:
        """Forget a pool and its aliases (a deleted deployment)."""
        with self._lock:
            pool = self._pools.pop(key, None)
            for alias in [a for a, k in self._aliases.items() if k == key]:
                del self._aliases[alias]
        if pool is not None:
            pool.close()

    def resolve(self, model_id: str) -> ModelPool:
        """The pool for a deployment/custom model identifier, or a catalog model or foundation-model
        id loaded on first use. An id in Bedrock's form that the table lacks is Bedrock's
        ResourceNotFoundException ("Could not resolve the foundation model ...")."""
        with self._lock:
            key = self._aliases.get(model_id)
            if key is not None:
                return self._pools[key]
        spec = self._on_demand_spec(model_id)
        with self._lock:
            key = self._aliases.get(model_id) or (spec if spec in self._pools else None)
            if key is not None:
                self._aliases[model_id] = key
                return self._pools[key]
            if spec is not None:
                pool = ModelPool(spec, spec, self._loader, workers=self._workers, max_queue=self._max_queue)
                self._pools[spec] = pool
                self._aliases[spec] = self._aliases[model_id] = spec
                pool.load_in_background()
                return pool
        raise NotFoundError(
            f"model {model_id!r} is not deployed here: create a custom model deployment for it "
            f"(CreateCustomModelDeployment) or use a catalog model ({', '.join(sorted(self._catalog)) or 'none'})",
            field="modelId",
        )

    def _on_demand_spec(self, model_id: str) -> str | None:
        """The spec a catalog name or foundation-model id loads on first use (``None``: neither)."""
        if model_id in self._catalog:
            return model_id
        if self.foundation is None:
            return None
        from stillhouse.models.foundation import is_foundation_id

        return self.foundation.spec_for(model_id, "modelId") if is_foundation_id(model_id) else None

    def is_catalog(self, model_id: str) -> bool:
        """Whether ``model_id`` loads on first use (a request may wait for it): a catalog name or a
        foundation-model id the table maps."""
        if model_id in self._catalog:
            return True
        return self.foundation is not None and self.foundation.get(model_id) is not None

    @property
    def catalog_names(self) -> frozenset[str]:
        return self._catalog

    def has(self, key: str) -> bool:
        with self._lock:
            return key in self._pools

    def pools(self) -> list[ModelPool]:
        with self._lock:
            return list(self._pools.values())

    def close(self) -> None:
        for pool in self.pools():
            pool.close()


def wait_active(pool: ModelPool, timeout_s: float) -> None:
    """Block until a pool is loaded (tests, benchmarks); re-raise its load failure."""
    try:
        pool.loaded.result(timeout=timeout_s)
    except TimeoutError as exc:
        raise ModelNotReadyError(f"model {pool.name} did not load within {timeout_s:.0f} s") from exc
