"""A Flyte admin on loopback: flyteidl's AdminService (the task calls) and AuthMetadataService over real gRPC.

It keeps tasks in memory and answers as flyteadmin does: the same task again is ALREADY_EXISTS, different
content under an existing id is INVALID_ARGUMENT ("task with different structure already exists"), or
ALREADY_EXISTS as well with ``already_exists_for_any``. With ``token`` set, calls without
``authorization: Bearer <token>`` are UNAUTHENTICATED. Every request is recorded with its metadata.
"""

from __future__ import annotations

import threading
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from flyteidl.admin import task_pb2
from flyteidl.core import compiler_pb2, tasks_pb2
from flyteidl.service import admin_pb2_grpc, auth_pb2, auth_pb2_grpc


@dataclass
class Received:
    method: str
    request: Any
    metadata: dict[str, str]


@dataclass
class FlyteAdmin:
    token: str | None = None
    already_exists_for_any: bool = False
    received: list[Received] = field(default_factory=list)
    tasks: dict[tuple[str, ...], task_pb2.Task] = field(default_factory=dict)
    port: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        admin_pb2_grpc.add_AdminServiceServicer_to_server(_AdminService(self), self._server)
        auth_pb2_grpc.add_AuthMetadataServiceServicer_to_server(_AuthMetadataService(self), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> FlyteAdmin:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None).wait()

    def config_file(self, folder: Path, **admin: Any) -> Path:
        """A flytectl-style config.yaml pointing at this server (insecure), with extra ``admin.*`` keys."""
        import yaml

        path = folder / "config.yaml"
        path.write_text(yaml.safe_dump({"admin": {"endpoint": f"dns:///{self.endpoint}", "insecure": True, **admin}}))
        return path

    def calls(self) -> list[str]:
        return [item.method for item in self.received]

    def created_templates(self) -> list[tasks_pb2.TaskTemplate]:
        return [item.request.spec.template for item in self.received if item.method == "CreateTask"]

    def _record(self, method: str, request: Any, context: grpc.ServicerContext, *, public: bool = False) -> None:
        metadata = dict(context.invocation_metadata())
        with self._lock:
            self.received.append(Received(method, request, metadata))
        if not public and self.token is not None and metadata.get("authorization") != f"Bearer {self.token}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "token is missing or invalid")


def _key(identifier: Any) -> tuple[str, ...]:
    return (identifier.project, identifier.domain, identifier.name, identifier.version)


class _AdminService(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, admin: FlyteAdmin) -> None:
        self.admin = admin

    def CreateTask(self, request: task_pb2.TaskCreateRequest, context: grpc.ServicerContext) -> Any:
        self.admin._record("CreateTask", request, context)
        template = tasks_pb2.TaskTemplate()
        template.CopyFrom(request.spec.template)
        template.id.CopyFrom(request.id)  # flyteadmin stores the template under the request's id
        existing = self.admin.tasks.get(_key(request.id))
        if existing is not None:
            if existing.closure.compiled_task.template == template or self.admin.already_exists_for_any:
                context.abort(grpc.StatusCode.ALREADY_EXISTS, "task with identical structure already exists")
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{request.id.name} task with different structure already exists. "
                "(Please register a new version of the task):",
            )
        closure = task_pb2.TaskClosure(compiled_task=compiler_pb2.CompiledTask(template=template))
        self.admin.tasks[_key(request.id)] = task_pb2.Task(id=request.id, closure=closure)
        return task_pb2.TaskCreateResponse()

    def GetTask(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.admin._record("GetTask", request, context)
        task = self.admin.tasks.get(_key(request.id))
        if task is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"task {request.id.name} version {request.id.version} not found")
        return task


class _AuthMetadataService(auth_pb2_grpc.AuthMetadataServiceServicer):
    def __init__(self, admin: FlyteAdmin) -> None:
        self.admin = admin

    def GetPublicClientConfig(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.admin._record("GetPublicClientConfig", request, context, public=True)
        return auth_pb2.PublicClientAuthConfigResponse(client_id="flytectl", authorization_metadata_key="authorization")

    def GetOAuth2Metadata(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.admin._record("GetOAuth2Metadata", request, context, public=True)
        return auth_pb2.OAuth2MetadataResponse(issuer=f"http://{self.admin.endpoint}")
