"""One message's content on its way from the DATA stream into the message store.

The session feeds content as it decodes it; the writer decides what becomes of it:

- **Batches.** Content is gathered into batches of the store's `write_size` and each full batch
  is written by one store call in a worker thread (the calls block). The last batch goes with
  the commit, in the same call.
- **Budget.** Every byte held counts against the process-wide byte budget, reserved before it
  is taken (waiting, when the budget is spent, is what pushes back on the sender) and set to
  what the store still buffers after each write. The writer itself is the budget's holder.
- **Size limit.** Content past the limit is not stored: the message is aborted at once and
  the rest of DATA is only counted off, so the refusal can be the reply at its end.
- **Store failure.** A failed write aborts the message; the rest of DATA is discarded too.
- **Stalls.** Given `on_evict`, the writer lets the budget evict it when it has taken nothing
  for `stall_timeout` seconds while other sessions wait for memory (relay.budget): `on_evict`
  is then called (the session answers and closes) and the next `add` raises `Evicted`.
  Store calls are the relay's own waiting, never a stall.
- **Abort.** Leaving the `with` block by an exception (a lost connection, a timeout,
  cancellation, eviction) aborts the message, but only once the store call in flight has
  returned: threads cannot be interrupted, and the cleanup must never race the call.

The outcome of `finish` is the stored message's envelope or why there is none (`TooLarge`,
`NotStored`); turning that into an SMTP reply is the session's business.
"""

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from inlet.blobstore import StorageError
from inlet.envelope import Envelope, EnvelopeDraft
from inlet.errors import InletError
from inlet.message_store import IncomingMessage
from relay.budget import ByteBudget

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TooLarge:
    """The content passed the size limit; nothing was stored."""


@dataclass(frozen=True, slots=True)
class NotStored:
    """A store call (a batch write or the commit) failed; the reply asks for a retry."""

    error: InletError


Refusal = TooLarge | NotStored


class MessageWriter:
    """Writes one message; use it as a `with` block around the whole DATA phase."""

    def __init__(
        self,
        message: IncomingMessage,
        budget: ByteBudget,
        executor: Executor,
        *,
        limit: int,
        stall_timeout: float | None = None,
        on_evict: Callable[[], None] | None = None,
    ) -> None:
        self.message = message
        self._budget = budget
        self._executor = executor
        self._limit = limit
        self._batch = bytearray()
        self._content_size = 0
        self._refusal: Refusal | None = None
        self._last_op: Future[Any] | None = None
        if on_evict is not None:
            if stall_timeout is None:
                raise ValueError("on_evict needs a stall_timeout")
            budget.watch(self, stall_timeout=stall_timeout, evict=on_evict)

    def __enter__(self) -> "MessageWriter":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.abort()
        self._budget.release(self)

    async def add_header(self, header: bytes) -> None:
        """Put `header` (the trace header) first: held and stored, not counted as content."""
        await self._budget.reserve(self, len(header))
        self._batch += header

    async def add(self, content: bytes | memoryview, *, last: bool = False) -> None:
        """Append the next piece of content; `last` when DATA ended with it (its batch then goes
        with the commit). Discarded once the message is refused."""
        if self._refusal is not None:
            return
        self._content_size += len(content)
        if self._content_size > self._limit:
            await self._stop_storing()
            return
        await self._budget.reserve(self, len(content))
        self._batch += content
        if len(self._batch) >= self.message.write_size and not last:
            await self._write_batch()

    async def finish(self, draft: EnvelopeDraft, *, deadline: float) -> Envelope | Refusal:
        """Write the last batch and commit: the stored message's envelope (completed from
        `draft`), or why the message was not stored. A store that has not confirmed within
        `deadline` seconds is a refusal too; the attempt is then removed once its call returns
        (the worker thread cannot be interrupted), whatever that call's outcome."""
        if self._refusal is not None:
            return self._refusal
        commit = self._call(_write_and_commit, self.message, self._batch, draft)
        try:
            return await asyncio.wait_for(commit, deadline)
        except InletError as exc:
            return NotStored(exc)
        except TimeoutError:
            self.abort()
            return NotStored(StorageError(f"not confirmed within {deadline:g} s"))

    def abort(self) -> None:
        """Give up on the message once the store call in flight, if any, has returned."""
        message = self.message
        if self._last_op is not None and not self._last_op.done():
            # Runs in the worker thread that finishes the call, right after it.
            self._last_op.add_done_callback(lambda _: message.abort())
            return
        try:
            self._executor.submit(message.abort)
        except RuntimeError:  # the executor is shutting down: clean up here instead
            message.abort()

    async def _write_batch(self) -> None:
        full, self._batch = self._batch, bytearray()  # the store may keep `full`
        try:
            await self._call(self.message.write, full)
        except InletError as exc:
            self._refusal = NotStored(exc)
            await self._call(self.message.abort)
        self._budget.set(self, self.message.buffered + len(self._batch))

    async def _stop_storing(self) -> None:
        self._refusal = TooLarge()
        self._batch = bytearray()
        await self._call(self.message.abort)
        self._budget.release(self)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking store call in a worker thread, remembering it for `abort`."""
        future = self._executor.submit(fn, *args)
        self._last_op = future
        with self._budget.busy(self):
            return await asyncio.wrap_future(future)


def _write_and_commit(message: IncomingMessage, last: bytearray, draft: EnvelopeDraft) -> Envelope:
    if last:
        message.write(last)
    return message.commit(draft)
