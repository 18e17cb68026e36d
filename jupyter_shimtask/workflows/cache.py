"""A local catalog of task outputs, keyed as the platform's catalog keys them.

Datacatalog (flytepropeller's ``catalog/datacatalog/transformer.go``) files outputs under a dataset
``flyte_task-<project>.<domain>.<name>`` whose version is the task's ``cache_version`` plus a hash
of its interface, tagged with a hash of the input literals in which a literal that carries a
``hash`` (an offloaded dataframe with a HashMethod, say) counts by that hash and not by its URI.
Inputs named in ``cache_ignore_input_vars`` do not count. flytekit's local cache
(``flytekit/core/local_cache.py``) does the same. The entries live in ``<workspace>/cache``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import settings

if TYPE_CHECKING:
    from flyteidl.core.literals_pb2 import Literal, LiteralMap
    from flyteidl.core.tasks_pb2 import TaskTemplate


def cacheable(template: TaskTemplate) -> bool:
    return template.metadata.discoverable and bool(template.metadata.discovery_version)


def cache_key(template: TaskTemplate, inputs: LiteralMap) -> str:
    task = template.id
    dataset = f"flyte_task-{task.project}.{task.domain}.{task.name}"
    interface = hashlib.sha256(template.interface.SerializeToString(deterministic=True)).hexdigest()
    version = f"{template.metadata.discovery_version}-{interface}"
    ignored = set(template.metadata.cache_ignore_input_vars)
    tag = _inputs_hash({name: literal for name, literal in inputs.literals.items() if name not in ignored})
    return hashlib.sha256("\0".join([dataset, version, tag]).encode()).hexdigest()


def _inputs_hash(literals: dict[str, Literal]) -> str:
    from flyteidl.core.literals_pb2 import LiteralMap

    normalized = LiteralMap(literals={name: _by_hash(literal) for name, literal in literals.items()})
    return hashlib.sha256(normalized.SerializeToString(deterministic=True)).hexdigest()


def _by_hash(literal: Literal) -> Literal:
    from flyteidl.core.literals_pb2 import Literal as LiteralMessage

    if literal.hash:
        return LiteralMessage(hash=literal.hash)
    if literal.HasField("collection"):
        copy = LiteralMessage()
        copy.collection.literals.extend(_by_hash(item) for item in literal.collection.literals)
        return copy
    if literal.HasField("map"):
        copy = LiteralMessage()
        for key, item in literal.map.literals.items():
            copy.map.literals[key].CopyFrom(_by_hash(item))
        return copy
    return literal


def _path(key: str) -> Path:
    return settings().cache_dir / key[:2] / f"{key}.pb"


def lookup(key: str) -> LiteralMap | None:
    from flyteidl.core.literals_pb2 import LiteralMap

    path = _path(key)
    if not path.exists():
        return None
    outputs = LiteralMap()
    outputs.ParseFromString(path.read_bytes())
    return outputs


def store(key: str, template: TaskTemplate, outputs: LiteralMap) -> None:
    """Keep ``outputs`` under ``key`` (written whole, then renamed, so a reader never sees half)."""
    path = _path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "wb") as stream:
        stream.write(outputs.SerializeToString())
    os.replace(temporary, path)
    about = {"task": template.id.name, "cache_version": template.metadata.discovery_version, "stored": time.time()}
    path.with_suffix(".json").write_text(json.dumps(about))
