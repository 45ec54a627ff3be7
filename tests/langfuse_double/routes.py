"""The route table: which handler, auth style and contract operation serve each METHOD + path."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from tests.langfuse_double import api_datasets, api_ingestion, api_prompts
from tests.langfuse_double.auth import AuthStyle
from tests.langfuse_double.store import Store
from tests.langfuse_double.wire import Call, Reply

Handler = Callable[[Store, Call], Reply]


@dataclass(frozen=True)
class Route:
    """One endpoint. `template` is the openapi.yml path, so `operation` keys the contract schemas."""

    method: str
    template: str
    handler: Handler
    auth: AuthStyle
    raw_body: bool = False  # the handler decodes the body itself (OTLP)

    @property
    def operation(self) -> str:
        """Return the contract key, e.g. "POST /api/public/v2/prompts"."""
        return f"{self.method} {self.template}"

    def pattern(self) -> re.Pattern[str]:
        """Compile the template; each {param} is exactly one raw path segment (so %2F stays inside)."""
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template) + "$")


ROUTES = (
    Route("GET", "/api/public/health", api_ingestion.health, AuthStyle.NONE),
    Route("GET", "/api/public/projects", api_ingestion.projects, AuthStyle.PROJECT),
    Route("GET", "/api/public/v2/prompts", api_prompts.list_prompts, AuthStyle.PROMPT),
    Route("POST", "/api/public/v2/prompts", api_prompts.create_prompt, AuthStyle.PROMPT),
    Route("GET", "/api/public/v2/prompts/{promptName}", api_prompts.get_prompt, AuthStyle.PROMPT),
    Route("DELETE", "/api/public/v2/prompts/{promptName}", api_prompts.delete_prompt, AuthStyle.PROMPT),
    Route("PATCH", "/api/public/v2/prompts/{name}/versions/{version}", api_prompts.update_labels, AuthStyle.PROJECT),
    Route("GET", "/api/public/v2/datasets", api_datasets.list_datasets, AuthStyle.PROJECT),
    Route("POST", "/api/public/v2/datasets", api_datasets.create_dataset, AuthStyle.PROJECT),
    Route("GET", "/api/public/v2/datasets/{datasetName}", api_datasets.get_dataset, AuthStyle.PROJECT),
    Route("GET", "/api/public/dataset-items", api_datasets.list_items, AuthStyle.PROJECT),
    Route("POST", "/api/public/dataset-items", api_datasets.create_item, AuthStyle.PROJECT),
    Route("GET", "/api/public/dataset-items/{id}", api_datasets.get_item, AuthStyle.PROJECT),
    Route("DELETE", "/api/public/dataset-items/{id}", api_datasets.delete_item, AuthStyle.PROJECT),
    Route("POST", "/api/public/scores", api_ingestion.create_scores, AuthStyle.SCORES),
    Route("POST", "/api/public/otel/v1/traces", api_ingestion.export_traces, AuthStyle.PROJECT, raw_body=True),
)
_COMPILED = tuple((route, route.pattern()) for route in ROUTES)


class MethodNotAllowed(Exception):
    """The path exists but not with this method."""


def match(method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
    """Return the route and its %-decoded path parameters; None for unknown paths."""
    path_exists = False
    for route, pattern in _COMPILED:
        found = pattern.match(raw_path)
        if found is None:
            continue
        path_exists = True
        if route.method == method:
            return route, {key: unquote(value) for key, value in found.groupdict().items()}
    if path_exists:
        raise MethodNotAllowed(raw_path)
    return None
