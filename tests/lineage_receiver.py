"""A stand-in for Marquez: an HTTP server on 127.0.0.1 that keeps every OpenLineage event POSTed to it, and the
OpenLineage JSON schemas to validate them against (shared by test folders)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

#: Where OpenLineage's JSON schemas (OpenLineage.json, facets/*.json) are: no wheel ships them.
SPEC_ENV = "FLYTE_SNOWFLAKE_OPENLINEAGE_SPEC"
DEFAULT_SPEC = Path(__file__).resolve().parents[1].parent / "shared" / "openlineage-spec"


class Receiver:
    """Collects the JSON bodies POSTed to `url` + `/api/v1/lineage`."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.bodies: list[str] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                received.bodies.append(body)
                received.events.append(json.loads(body))
                self.send_response(201)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def of_run(self, run_id: str) -> list[str]:
        """Event types of one run, in arrival order."""
        return [e["eventType"] for e in self.events if e["run"]["runId"] == run_id]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve() -> Iterator[Receiver]:
    receiver = Receiver()
    try:
        yield receiver
    finally:
        receiver.close()


class Schemas:
    """OpenLineage.json and every facet schema, by their `$id`; validates an event and each of its facets.

    The schema files are data from the OpenLineage specification kept outside the repository (no wheel ships
    them). Where they are missing, `missing` says so and `validate` checks nothing: the test that exists to
    validate (`test_every_event_validates_against_the_openlineage_schemas`) is skipped with that reason.
    """

    def __init__(self, root: Path | None = None) -> None:
        from referencing import Registry, Resource

        root = root or Path(os.environ.get(SPEC_ENV) or DEFAULT_SPEC)
        files = [root / "OpenLineage.json", *sorted((root / "facets").glob("*.json"))]
        self.missing = ""
        self._registry: Any = Registry()
        self._core: dict[str, Any] = {}
        if not files[0].is_file():
            self.missing = (
                f"OpenLineage's JSON schemas are not at {root}: set {SPEC_ENV} to a folder holding OpenLineage.json "
                "and facets/*.json from the OpenLineage specification"
            )
            return
        documents = [json.loads(path.read_text()) for path in files]
        self._registry = Registry().with_resources((doc["$id"], Resource.from_contents(doc)) for doc in documents)
        self._core = documents[0]

    def validate(self, event: dict[str, Any]) -> None:
        """Raises when the event or one of its facets breaks its schema, or names a schema not known here."""
        from jsonschema import Draft202012Validator

        if self.missing:
            return
        Draft202012Validator(self._core, registry=self._registry).validate(event)
        for facet in _facets(event):
            url = facet["_schemaURL"]
            known = url.split("#")[0]
            assert self._registry.get(known) is not None, f"no schema {known} here: update the spec files"
            Draft202012Validator({"$ref": url}, registry=self._registry).validate(facet)


def _facets(event: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from (event["run"].get("facets") or {}).values()
    yield from (event["job"].get("facets") or {}).values()
    for dataset in [*(event.get("inputs") or []), *(event.get("outputs") or [])]:
        yield from (dataset.get("facets") or {}).values()
        yield from (dataset.get("inputFacets") or {}).values()
        yield from (dataset.get("outputFacets") or {}).values()
