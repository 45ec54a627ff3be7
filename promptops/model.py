"""The values that cross module boundaries: prompt specs, datasets, diagnostics.

Raw YAML never leaves the loader; everything else in promptops speaks these frozen dataclasses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Severity = Literal["error", "warning"]
PromptType = Literal["text", "chat"]
DATASETS_DIR = "datasets"  # the folder of the prompts folder that holds the datasets


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in one file: where it is, a stable code, and what to do about it."""

    path: str  # relative to the project root, POSIX separators
    line: int | None
    col: int | None
    code: str
    severity: Severity
    message: str

    def location(self) -> str:
        """Return `path:line:col` with the parts that are known."""
        parts = [self.path]
        if self.line is not None:
            parts.append(str(self.line))
            if self.col is not None:
                parts.append(str(self.col))
        return ":".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
        }


@dataclass(frozen=True)
class Variable:
    """A runtime variable: left as a Langfuse `{{name}}` placeholder and filled by the app."""

    name: str
    type: str = "string"
    description: str = ""
    enum: tuple[Any, ...] | None = None
    required: bool = True


@dataclass(frozen=True)
class MessageTemplate:
    """One chat message as written in the prompt file (a Jinja template), or a placeholder."""

    role: str | None  # None for placeholders
    content: str | None  # Jinja source; None for placeholders
    placeholder: str | None = None
    line: int | None = None  # line of the message in the prompt file


@dataclass(frozen=True)
class EvaluatorSpec:
    """An evaluator as configured: its score name, its kind and the kind's options."""

    name: str
    kind: str  # exact_match, contains, regex, char_length, json_valid, groundedness, llm_judge, module:function
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExperimentSpec:
    """What to run for a prompt: the dataset, task, model, evaluators and run controls."""

    dataset: str
    task: str = "generate"  # generate | rag | module:function
    model: str = "mock-llm-v1"
    model_options: Mapping[str, Any] = field(default_factory=dict)
    evaluators: tuple[EvaluatorSpec, ...] = ()
    repeats: int = 1
    seed: int = 0
    concurrency: int = 4
    item_timeout_s: float = 60.0
    total_timeout_s: float = 1800.0
    max_failure_rate: float = 0.5
    retries: int = 2
    retriever: str | None = None  # module:function for the rag task


@dataclass(frozen=True)
class Guardrail:
    """A metric that may not regress by more than `max_regression` (absolute)."""

    metric: str
    max_regression: float = 0.0


@dataclass(frozen=True)
class GatePolicy:
    """How a candidate is judged against its baseline."""

    primary: str
    policy: Literal["improve", "no_regression"] = "improve"
    min_delta: float = 0.0
    guardrails: tuple[Guardrail, ...] = ()
    floors: Mapping[str, float] = field(default_factory=dict)
    significance: Literal["none", "sign", "bootstrap"] = "none"
    alpha: float = 0.05
    decide_on: Literal["mean", "lower_bound"] = "mean"  # lower_bound: the 1 - alpha interval's (statistics.py)


@dataclass(frozen=True)
class ModelPrice:
    """What a model costs, in USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float


@dataclass(frozen=True)
class Budget:
    """`budget: {max_usd: X}` of a prompt file or the project: a run may not spend more on live model calls."""

    max_usd: float
    source: str  # where it was set, e.g. "prompts/capital-cities.yaml" or "promptops.yaml"
    assume_input_tokens: int = 1000  # per call, for the pre-run estimate when no recording says better
    assume_output_tokens: int = 500


ResponsesMode = Literal["record", "replay", "auto", "off"]
RESPONSES_MODES: tuple[ResponsesMode, ...] = ("record", "replay", "auto", "off")


@dataclass(frozen=True)
class ResponsesConfig:
    """Recorded model responses: the default mode and the folder (default: <prompts_dir>/_responses)."""

    mode: ResponsesMode = "auto"
    dir: str | None = None


@dataclass(frozen=True)
class PromptSpec:
    """One prompt file, parsed and checked against the schema, not yet rendered."""

    name: str
    path: str  # relative to the project root
    type: PromptType
    template: str | None  # text prompts: Jinja source
    messages: tuple[MessageTemplate, ...]  # chat prompts
    template_path: str  # file the text template came from (the YAML or a sibling .jinja)
    template_line: int  # line in template_path where the template starts (1-based)
    variables: tuple[Variable, ...] = ()
    constants: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    experiment: ExperimentSpec | None = None
    no_experiment_reason: str | None = None
    gate: GatePolicy | None = None
    description: str = ""
    positions: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # dotted key -> (line, col)
    budget: Budget | None = None

    def runtime_names(self) -> tuple[str, ...]:
        """Return the declared runtime variable names."""
        return tuple(v.name for v in self.variables)

    def position(self, key: str) -> tuple[int | None, int | None]:
        """Return the (line, col) of a dotted key in the prompt file, or of the file start."""
        return self.positions.get(key, (1, 1))


@dataclass(frozen=True)
class PromptFacts:
    """What the checks across prompt files need of one prompt: its name (no two prompts share one) and the
    runtime variables every item of its dataset must give (for the tasks that take them from the items)."""

    path: str
    name: str
    name_at: tuple[int | None, int | None]
    dataset: str | None = None
    required: tuple[str, ...] = ()

    @classmethod
    def of(cls, spec: PromptSpec) -> PromptFacts:
        """Return the facts of a loaded prompt."""
        name_at = spec.position("name") if "name" in spec.positions else (1, 1)
        exp = spec.experiment
        if exp is None or exp.task not in ("generate", "rag"):
            return cls(spec.path, spec.name, name_at)  # a custom task builds its own variables
        supplied_by_task = {"context"} if exp.task == "rag" else set()
        required = tuple(v.name for v in spec.variables if v.required and v.name not in supplied_by_task)
        return cls(spec.path, spec.name, name_at, exp.dataset, required)


@dataclass(frozen=True)
class PromptAnswer:
    """validate's answer about one prompt file, kept so that a later validate need not load it while it and
    what it reads are unchanged: its load problems (secrets too), whether it was read, and, when it loaded,
    the problems of its templates and experiment and its facts."""

    load_problems: tuple[Diagnostic, ...]
    read: bool
    problems: tuple[Diagnostic, ...] = ()
    facts: PromptFacts | None = None


@dataclass(frozen=True)
class DatasetItem:
    """One dataset item with a stable id."""

    id: str
    input: Mapping[str, Any]
    expected_output: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    line: int | None = None


@dataclass(frozen=True)
class KnowledgeDoc:
    """A document of a dataset's in-file knowledge base, for the rag task."""

    id: str
    text: str
    title: str = ""


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset file from prompts/datasets/."""

    name: str
    path: str
    description: str = ""
    items: tuple[DatasetItem, ...] = ()
    knowledge_base: tuple[KnowledgeDoc, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TracingConfig:
    """How traces are sampled and batched on their way to Langfuse; None leaves the SDK's default (or env)."""

    sample_rate: float | None = None  # share of traces kept, 0..1 (SDK default 1, or LANGFUSE_SAMPLE_RATE)
    flush_at: int | None = None  # spans and scores per export batch (LANGFUSE_FLUSH_AT, else 64)
    flush_interval: float | None = None  # seconds between exports (SDK default 5, or LANGFUSE_FLUSH_INTERVAL)


@dataclass(frozen=True)
class ProjectConfig:
    """Settings from `[tool.promptops]` or promptops.yaml, with defaults filled in."""

    prompts_dir: str = "prompts"
    registry: str = "auto"  # auto | local | langfuse
    registry_path: str = ".promptops/registry.db"
    default_model: str = "mock-llm-v1"
    constants: Mapping[str, Any] = field(default_factory=dict)
    gate: GatePolicy | None = None
    redact_patterns: tuple[str, ...] = ()
    redact_env: tuple[str, ...] = ()  # environment variables whose values are masked everywhere
    custom_code: str = "any"  # check: any | base-only (custom module:function code the base branch has)
    require_experiment: bool = True
    tracing: TracingConfig = field(default_factory=TracingConfig)
    source: str = ""  # the file the config came from, relative to root
    responses: ResponsesConfig = field(default_factory=ResponsesConfig)
    prices: Mapping[str, ModelPrice] = field(default_factory=dict)  # over the built-in table (cost.py)
    budget: Budget | None = None  # for everything one command runs


@dataclass(frozen=True)
class ReadScope:
    """What promptops may read of a checkout: regular files whose real path is under `prompts_root`.

    `tracked` (paths relative to `prompts_root`) narrows it to the files git tracks: set when the prompts folder
    is the project root itself, where the checkout also holds what the pull request did not write.
    """

    prompts_root: Path  # resolved
    tracked: frozenset[str] | None = None


@dataclass(frozen=True)
class Project:
    """A loaded prompt repository: its config, prompts, datasets and the problems found while loading."""

    root: Path
    config: ProjectConfig
    prompts: tuple[PromptSpec, ...]
    datasets: tuple[DatasetSpec, ...]
    diagnostics: tuple[Diagnostic, ...]
    rendered: Mapping[str, RenderedPrompt] = field(default_factory=dict)  # filled once the project validated
    scope: ReadScope | None = None  # what loading was allowed to read (None: the prompts folder, no git rule)
    scanned: frozenset[str] = frozenset()  # files whose secrets loading reported already (with their problems)
    # Prompt files answered from validate's cache, by path, their specs not loaded: such a project serves only
    # validate's answer (validate.validate_and_render), never a registry.
    answered: Mapping[str, PromptAnswer] = field(default_factory=dict)

    @property
    def prompt_count(self) -> int:
        """Return how many prompts loaded, answered ones included."""
        return len(self.prompts) + sum(a.facts is not None for a in self.answered.values())

    @property
    def prompts_root(self) -> Path:
        """Return the absolute prompts directory."""
        return self.root / self.config.prompts_dir

    def prompt(self, name: str) -> PromptSpec | None:
        """Return the prompt with this name, if the project has it."""
        return next((p for p in self.prompts if p.name == name), None)

    def dataset(self, name: str) -> DatasetSpec | None:
        """Return the dataset with this name, if the project has it."""
        return next((d for d in self.datasets if d.name == name), None)

    def rendered_prompt(self, spec: PromptSpec) -> RenderedPrompt:
        """Return a prompt as validation already rendered it, rendering it only if validation did not (a run
        whose prompts validation answered from its cache never imports Jinja)."""
        if (rendered := self.rendered.get(spec.name)) is not None:
            return rendered
        from promptops.render import render

        return render(spec, self.prompts_root, self.root, scope=self.scope)


@dataclass(frozen=True)
class RenderedPrompt:
    """What promptops stores in the registry for a prompt: the rendered text or messages and config."""

    name: str
    type: PromptType
    prompt: str | tuple[Mapping[str, str], ...]  # text, or chat messages/placeholders in Langfuse's shape
    config: Mapping[str, Any]
    tags: tuple[str, ...]
    labels: tuple[str, ...]
    content_hash: str
    source_path: str

    def as_langfuse_prompt(self) -> str | list[dict[str, str]]:
        """Return the prompt in the shape `create_prompt(prompt=...)` takes."""
        if isinstance(self.prompt, str):
            return self.prompt
        return [dict(m) for m in self.prompt]
