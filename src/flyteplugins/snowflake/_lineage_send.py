"""Hands OpenLineage events to the client's transport on one background thread, never on the caller's.

A task or the connector service never waits for lineage: `Sender.offer` puts a recipe for the event in a
bounded queue and returns. One daemon thread builds each event and emits it through an `OpenLineageClient`
configured the client's own way (`OPENLINEAGE_URL`, `OPENLINEAGE_CONFIG`, `openlineage.yml`,
`OPENLINEAGE__TRANSPORT__*`). A full queue drops the event; a transport that fails drops it too. Both are
counted (`flyte_connector_snowflake_lineage_events_total`) and logged once per kind of failure, then quietly.
At interpreter exit the queue is drained for at most `DRAIN_S` seconds, so a local run's last event goes out.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from . import _metrics

logger = logging.getLogger(__name__)

#: Events waiting to be sent; past this the newest are dropped (a receiver that is down or slow).
QUEUE_SIZE = 1000
#: Seconds the queue is drained at interpreter exit (the transport's own timeout bounds each send).
DRAIN_S = 3.0

Recipe = Callable[[], Any]
"""Builds one event (an `openlineage.client.event_v2.RunEvent`); runs on the sender's thread."""

_senders: weakref.WeakSet[Sender] = weakref.WeakSet()


class Sender:
    """A bounded queue of event recipes and the one thread that sends them."""

    def __init__(self, make_client: Callable[[], Any], size: int = QUEUE_SIZE) -> None:
        self._make_client = make_client
        self._queue: queue.Queue[Recipe | None] = queue.Queue(maxsize=size)
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self._logged: set[str] = set()
        self._busy = 0
        _senders.add(self)

    def offer(self, recipe: Recipe) -> bool:
        """Queue an event without waiting; False (and counted as dropped) when the queue is full."""
        self._ensure_thread()
        try:
            self._queue.put_nowait(recipe)
        except queue.Full:
            _metrics.LINEAGE_EVENTS.labels(outcome="dropped").inc()
            self._log_once("queue_full", "OpenLineage: %d events wait to be sent; dropping new ones", QUEUE_SIZE)
            return False
        return True

    def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for every queued event to be sent (or dropped); True when none is left."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)
        return not self._queue.unfinished_tasks

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._start:
            if self._thread is None:
                thread = threading.Thread(target=self._loop, name="openlineage-sender", daemon=True)
                thread.start()
                self._thread = thread

    def _loop(self) -> None:
        client = self._client()
        while True:
            recipe = self._queue.get()
            try:
                if recipe is None:
                    return
                self._send(client, recipe)
            finally:
                self._queue.task_done()

    def _client(self) -> Any:
        try:
            return self._make_client()
        except Exception as exc:  # any failure of the client's set-up turns lineage off, never the task
            self._log_once("client", "OpenLineage: the client could not be set up (%s); no events are sent", exc)
            return None

    def _send(self, client: Any, recipe: Recipe) -> None:
        if client is None:
            _metrics.LINEAGE_EVENTS.labels(outcome="failed").inc()
            return
        try:
            client.emit(recipe())
        except Exception as exc:  # a transport's errors are its own (HTTP, Kafka, files): counted, logged once
            _metrics.LINEAGE_EVENTS.labels(outcome="failed").inc()
            self._log_once(
                type(exc).__name__, "OpenLineage: an event could not be sent (%s: %s)", type(exc).__name__, exc
            )
            return
        _metrics.LINEAGE_EVENTS.labels(outcome="sent").inc()

    def _log_once(self, kind: str, message: str, *args: Any) -> None:
        if kind in self._logged:
            logger.debug(message, *args)
            return
        self._logged.add(kind)
        logger.warning(message + " (further ones are logged at debug level)", *args)


@atexit.register
def _drain_at_exit() -> None:
    for sender in list(_senders):
        sender.drain(DRAIN_S)
