"""Typed request and response bodies of the REST API (they make the OpenAPI document)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..data.labels import LABEL_FIX, label_problem

_NAME_BAD = set('/\\\0:*?"<>|')


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, v: Any) -> Any:
        # PostgreSQL text cannot hold NUL characters: refuse them here (422), not in the database (500).
        if isinstance(v, str) and "\0" in v:
            raise ValueError("must not contain NUL characters")
        return v


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Credentials(_In):
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    password: str = Field(min_length=1, max_length=200)


class NewCredentials(Credentials):
    password: str = Field(min_length=10, max_length=200,
                          description="at least 10 characters; the most common passwords are refused")


class UserOut(_Out):
    id: int
    email: str
    created_at: datetime


class MeOut(UserOut):
    csrf_token: Optional[str] = None


class TokenCreate(_In):
    name: str = Field(min_length=1, max_length=100)


class TokenOut(_Out):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: Optional[datetime] = None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret; shown only once. Send it as `Authorization: Bearer …`.")


class PipelineOut(BaseModel):
    name: str
    description: str
    recommended: bool = Field(description="What `auto` starts from on this server.")
    offline: bool
    available: bool = Field(description="It can train on this server without a download.")
    reason: Optional[str] = Field(None, description="Why it is not available, in words.")


class TaskOut(BaseModel):
    name: str
    description: str
    modality: str
    extensions: list[str]
    accept: str = Field(description="The upload picker's `accept`: extensions and MIME patterns.")
    capture: Literal["webcam", "microphone", "motion", "none"] = Field(
        description="What the browser can record for this task's samples and Try it.")
    preview: Literal["image", "audio", "file"] = Field(description="How a stored sample is shown.")
    capture_seconds: float = Field(description="Length of a Try-it microphone recording; motion: the default window.")
    pipelines: list[PipelineOut]
    auto: str = Field("", description="What `auto` uses on this server, in one sentence.")
    sequence: bool = Field(False, description="Its projects can be sequence projects (a recording → text).")


class ProjectCreate(_In):
    name: str = Field(min_length=1, max_length=200)
    task: str = Field("image", description="a registered task: image | sound | speech … (see GET /api/tasks)")
    kind: Literal["classes", "sequence"] = Field(
        "classes", description="`classes`: each file is one of the project's classes; `sequence`: each "
                               "recording has a text (typed keys, spoken digits…), trained with CTC")


class ProjectRename(_In):
    name: str = Field(min_length=1, max_length=200)


class ClassName(_In):
    name: str = Field(min_length=1, max_length=100)

    @field_validator("name")
    @classmethod
    def _safe(cls, v: str) -> str:
        if v in (".", "..") or v.startswith(".") or any(c in _NAME_BAD or not c.isprintable() for c in v):
            raise ValueError("a class name cannot start with '.' or contain / \\ : * ? \" < > |")
        if why := label_problem(v):  # the core's one rule: printable, at most 100 bytes of UTF-8
            raise ValueError(f"{why}. {LABEL_FIX}")
        return v


class SampleOut(_Out):
    id: int
    class_id: int
    filename: str
    size: int
    created_at: datetime
    text: Optional[str] = None  # a sequence project's recording: its text


class ClassOut(_Out):
    id: int
    name: str
    sample_count: int
    samples: list[SampleOut] = []


class ProjectOut(_Out):
    id: int
    name: str
    task: str
    kind: str = "classes"
    created_at: datetime
    classes: list[ClassOut] = []
    sample_count: int = 0
    job_count: int = 0


class SampleText(BaseModel):
    model_config = ConfigDict(extra="forbid")  # not stripped: spaces may be tokens of the text
    text: str = Field(max_length=2000, description="the recording's text (at most 500 characters, printable)")


class SampleMove(_In):
    class_id: int = Field(description="the class (of the same project) the example moves to")


class HealthSample(BaseModel):
    model_config = ConfigDict(extra="allow")  # per-check extras: value, error, given, suggested, confidence
    sample_id: Optional[int] = Field(None, description="null when the sample was deleted since")
    class_id: Optional[int] = None
    filename: str
    label: str = ""
    name: str
    split: Optional[str] = None


class HealthFinding(BaseModel):
    kind: str = Field(description="exact_duplicate | near_duplicate | label_conflict | leakage | imbalance | "
                                  "too_few | outlier | blank | silent | constant | unreadable | mislabelled | add_next")
    severity: Literal["error", "warning", "info"]
    stage: Literal["data", "training"]
    message: str
    action: str
    detail: dict[str, Any]
    samples: list[HealthSample]


class HealthOut(BaseModel):
    checked: int
    ok: bool
    counts: dict[str, int]
    findings: list[HealthFinding]
    removed_from_evaluation: dict[str, list[HealthSample]] = Field(
        default_factory=dict, description="copies of training examples left out of the val/test scores")
    available: bool = True
    stats: Optional[dict[str, Any]] = Field(None, description="a sequence project's counts: recordings, subjects, "
                                                             "durations, text lengths, alphabet, output frames/s")


class Rejected(BaseModel):
    file: str
    error: str


class UploadResult(BaseModel):
    added: list[SampleOut]
    rejected: list[Rejected]


class TrainRequest(_In):
    pipeline: str = Field("auto", description="`auto` = the task's recommended pipeline")
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Any TrainConfig keys (num_epochs, learning_rate, batch_size, weight_decay, "
                    "optimizer, head = 'linear' | 'mlp' | [{units, activation, dropout, batchnorm}], "
                    "cv, seed, …); checked by the core, every problem reported at once.")


class CompareRequest(_In):
    pipelines: Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=64)] | Literal["recommended", "offline"] = Field(
        "recommended", description="pipeline names (`NAME:HEAD` swaps the head preset), `recommended` "
                                   "(the task's short list) or `offline` (every pipeline that needs no download)")
    config: dict[str, Any] = Field(default_factory=dict,
                                   description="TrainConfig keys applied to every pipeline (as for training)")


JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobOut(_Out):
    id: int
    project_id: int
    status: JobStatus
    pipeline: str
    config: dict[str, Any]
    progress: Optional[dict[str, Any]] = None
    summary: Optional[dict[str, Any]] = None
    error: Optional[str] = None
    attempts: int
    cancel_requested: bool
    created_at: datetime
    started_at: Optional[datetime] = None
    finished_at: Optional[datetime] = None


ExportFormat = Literal["bundle", "onnx", "onnx-int8", "all", "web"]


class ExportRequest(_In):
    format: ExportFormat = Field("bundle", description="`bundle` (PyTorch), `onnx`, `onnx-int8`, `all` or `web` "
                                                        "(an offline web page)")


class ExportOut(BaseModel):
    """An export job: follow it like a training job (``GET /api/jobs/{job.id}``, ``…/events``);
    once ``job.status`` is ``succeeded``, ``download_url`` gives the zip."""

    job: JobOut
    run_job: int = Field(description="the trained run being exported")
    format: ExportFormat
    download_url: Optional[str] = Field(None, description="set once the bundle is built")


class Prediction(BaseModel):
    label: Optional[str] = Field(None, description="the class (a classification run)")
    probabilities: dict[str, float] = Field(default_factory=dict, description="class → probability, highest first")
    unsure: bool = Field(False, description="the top probability is low: the model is not sure")
    text: Optional[str] = Field(None, description="the decoded text (a sequence run)")
    confidence: Optional[float] = Field(None, description="a sequence run's decoded text: geometric mean of "
                                                          "its frame probabilities (0..1)")


class Problem(BaseModel):
    detail: Any
    problems: list[str] = []
