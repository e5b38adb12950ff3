"""The OpenAPI document says what the API really accepts.

Pydantic alone documents a training request as "pipeline: any string, config: any object", so
generated clients (and schemathesis) send inputs the server must refuse. Here the document gets
the registries' names (tasks, pipelines, head presets, weight names) and the core's own
``TrainConfig`` schema, minus the keys only the server may set. Built lazily, on the first request
for the document: nothing is read at import time.
"""
from __future__ import annotations

from typing import Any

# Keys of TrainConfig a request may not set: the project and the ``pipeline`` field decide the first
# two; the rest name server paths or server resources (a client must not pick where files go).
SERVER_ONLY = frozenset({"task", "pipeline", "cache_dir", "device", "num_workers"})
PREFIX = "TrainConfig"


def pretrained_names() -> list[str]:
    from ..pipelines import PIPELINES

    return sorted({"default", "none", *(spec.pretrained for _, spec in PIPELINES.items())})


def config_problems(config: dict[str, Any]) -> list[str]:
    """What a request's training config may not contain (server-only keys, weight file paths)."""
    problems = [f"config.{key}: set by the server, not by a request" for key in sorted(SERVER_ONLY & set(config))]
    pretrained = config.get("pretrained")
    if pretrained is not None and pretrained not in pretrained_names():
        problems.append(f"config.pretrained: one of {', '.join(pretrained_names())} "
                        "(weight files are configured on the server)")
    return problems


def _train_config_schema(components: dict) -> dict:
    from ..config import TrainConfig
    from ..models.heads import HEADS

    schema = TrainConfig.model_json_schema(ref_template=f"#/components/schemas/{PREFIX}{{model}}")
    for name, sub in schema.pop("$defs", {}).items():
        components[PREFIX + name] = sub
    props = schema["properties"]
    for key in SERVER_ONLY:
        props.pop(key, None)
    props["pretrained"] = {"type": "string", "enum": pretrained_names(), "default": "default",
                           "description": "default: the pipeline's weights; none: train from scratch"}
    head_ref = {"$ref": f"#/components/schemas/{PREFIX}HeadBlock"}
    props["head"] = {"anyOf": [{"type": "string", "enum": sorted(HEADS.names())},
                               {"type": "array", "items": head_ref, "minItems": 1, "maxItems": 8},
                               {"type": "null"}],
                     "description": "a preset, or hidden blocks (then a final Linear to the classes)"}
    schema["additionalProperties"] = False
    return schema


def describe_inputs(doc: dict) -> dict:
    """Tighten the generated document in place (and return it)."""
    from ..pipelines import PIPELINES
    from ..tasks import TASKS

    components = doc.setdefault("components", {}).setdefault("schemas", {})
    if "ProjectCreate" in components:
        task = components["ProjectCreate"]["properties"]["task"]
        task["enum"] = sorted(TASKS.names())
    if "TrainRequest" in components:
        props = components["TrainRequest"]["properties"]
        props["pipeline"]["enum"] = ["auto", *sorted(PIPELINES.names())]
        props["pipeline"]["description"] += "; it must suit the project's task (see GET /api/tasks)"
        config = _train_config_schema(components)
        config["description"] = props["config"].get("description", "")
        props["config"] = config
    if "CompareRequest" in components:
        from ..models.heads import HEADS

        props = components["CompareRequest"]["properties"]
        names = sorted(PIPELINES.names())
        for option in props["pipelines"].get("anyOf", []):
            if option.get("type") == "array":
                option["items"]["enum"] = [*names, *(f"{n}:{h}" for n in names for h in sorted(HEADS.names()))]
        config = _train_config_schema(components)
        config["description"] = props["config"].get("description", "")
        props["config"] = config
    return doc
