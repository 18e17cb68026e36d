"""Fixtures for tests in a real browser: a real ``jupyter lab`` and Debian's Chromium driven by Playwright.

``lab`` gives a JupyterLab server (one per session; kernels are shut down after each test) and
``page`` a fresh Chromium page. ``open_lab(path)`` loads JupyterLab in the page and waits until it
is ready, ``run_command(id, args)`` runs a JupyterLab command, and ``screenshot(page, label)``
saves a picture in ``test-artifacts/``. Without Chromium or
Playwright these tests skip with the reason, except under CI, where they fail.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = os.environ.get("SHIMTASK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_SECONDS = 90.0
SERVER_STOP_SECONDS = 20.0
LAB_READY_MS = 90_000
HERE = Path(__file__).resolve().parent


def missing(reason: str) -> NoReturn:
    """Skip locally; under CI a missing browser part is a failure, never a skip."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: browser tests must run)", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


# -- the JupyterLab server ---------------------------------------------------------------------


@dataclass
class LabServer:
    """A running ``jupyter lab`` on 127.0.0.1 with its own config, data and runtime folders."""

    url: str  # ends with "/"
    root: Path  # the folder JupyterLab shows; notebooks written here appear in the file browser
    home: Path  # holds root, the Jupyter folders, the workspace and TMPDIR of the server and kernels
    process: subprocess.Popen
    log: Path
    env: dict[str, str]  # the server's environment: run `jupyter` commands that see what it sees
    home_page: str = "lab"  # a page that sets the XSRF cookie: "lab" for JupyterLab, "tree" for Notebook 7
    _cookies: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar, repr=False)
    _xsrf: str | None = field(default=None, repr=False)

    @property
    def _opener(self) -> urllib.request.OpenerDirector:
        return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self._cookies))

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the server's REST API (``path`` relative to ``/api/``); JSON in, JSON out.

        Requests carry the server's XSRF cookie and header, as JupyterLab's own do.
        """
        if self._xsrf is None:
            with self._opener.open(f"{self.url}{self.home_page}", timeout=60) as response:
                response.read()
            self._xsrf = next(cookie.value for cookie in self._cookies if cookie.name == "_xsrf")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}api/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "X-XSRFToken": self._xsrf},
        )
        with self._opener.open(request, timeout=60) as response:
            text = response.read()
        return json.loads(text) if text else None

    def lab_url(self, path: str = "") -> str:
        """JupyterLab's page for ``path`` (a file under ``root``), with a fresh workspace layout."""
        return f"{self.url}lab/tree/{path}?reset" if path else f"{self.url}lab?reset"

    def kernels(self) -> list[dict[str, Any]]:
        return self.api("GET", "kernels")

    def shutdown_kernels(self) -> None:
        """Shut every kernel down the normal way, so each runs its exit handlers (warm workers stop)."""
        for session in self.api("GET", "sessions"):
            self._delete(f"sessions/{session['id']}")
        for kernel in self.kernels():
            self._delete(f"kernels/{kernel['id']}")
        if self.kernels():
            raise RuntimeError(f"kernels still running after shutdown: {self.kernels()}")

    def _delete(self, path: str) -> None:
        try:
            self.api("DELETE", path)
        except urllib.error.HTTPError as error:
            if error.code != 404:  # already gone is fine
                raise

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """Pids of every live process below ``pid`` (kernels start their own sessions but stay children)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def lab_settings(config_dir: Path) -> None:
    """Server and JupyterLab settings for a quiet, offline, scriptable JupyterLab."""
    (config_dir / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "IdentityProvider": {"token": ""},
                "PasswordIdentityProvider": {"hashed_password": ""},
                "ServerApp": {"open_browser": False, "allow_root": True},
                "LabApp": {
                    "news_url": None,
                    "extension_manager": "readonly",
                    "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                    "expose_app_in_browser": True,  # window.jupyterapp, to run commands from tests
                },
                "JupyterNotebookApp": {"expose_app_in_browser": True},  # the same in Notebook 7
            }
        )
    )
    notifications = config_dir / "lab/user-settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
    notifications.parent.mkdir(parents=True)
    notifications.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))


@pytest.fixture(scope="session")
def lab_server() -> Iterator[LabServer]:
    """One real ``jupyter lab`` for the session; stopped with all its kernels at the end."""
    if shutil.which("jupyter-lab") is None and not _importable("jupyterlab"):
        missing("JupyterLab is not installed")
    with running_server("jupyterlab") as server:
        yield server


@pytest.fixture(scope="session")
def notebook7_server() -> Iterator[LabServer]:
    """One real Notebook 7 server (``jupyter notebook``) for the session."""
    if not _importable("notebook"):
        missing("Notebook 7 is not installed (pip install 'notebook>=7')")
    with running_server("notebook") as server:
        yield server


@pytest.fixture
def notebook7(notebook7_server: LabServer) -> Iterator[LabServer]:
    """The session's Notebook 7 server; the kernels a test started are shut down after it."""
    yield notebook7_server
    if notebook7_server.process.poll() is None:
        notebook7_server.shutdown_kernels()


@contextlib.contextmanager
def running_server(app_module: str) -> Iterator[LabServer]:
    """``python -m <app_module>`` (jupyterlab or notebook) on a free port, with its own folders."""
    home = Path(tempfile.mkdtemp(prefix="shimtask-lab-"))
    root, config_dir = home / "root", home / "config"
    for name in ("root", "config", "data", "runtime", "ipython", "workspace", "tmp"):
        (home / name).mkdir()
    lab_settings(config_dir)
    from jupyter_core.paths import jupyter_data_dir

    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(config_dir),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        # the user's own data folder stays visible: labextensions and kernels installed there
        JUPYTER_PATH=os.pathsep.join(filter(None, [os.environ.get("JUPYTER_PATH"), jupyter_data_dir()])),
        IPYTHONDIR=str(home / "ipython"),
        SHIMTASK_WORKSPACE=str(home / "workspace"),
        TMPDIR=str(home / "tmp"),
        PYTHONUNBUFFERED="1",
    )
    env.pop("JUPYTER_TOKEN", None)
    port = free_port()
    log = home / "server.log"
    command = [
        sys.executable,
        "-m",
        app_module,
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--ServerApp.root_dir={root}",
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT
        )
    server = LabServer(
        url=f"http://127.0.0.1:{port}/",
        root=root,
        home=home,
        process=process,
        log=log,
        env=env,
        home_page="lab" if app_module == "jupyterlab" else "tree",
    )
    try:
        wait_until_ready(server)
        yield server
    finally:
        stop(server)
        shutil.rmtree(home, ignore_errors=True)


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def wait_until_ready(server: LabServer) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {server.process.returncode}:\n{server.log_tail()}")
        with contextlib.suppress(OSError):
            if server.api("GET", "status") is not None:
                return
        time.sleep(0.25)
    raise RuntimeError(f"jupyter lab did not answer within {SERVER_START_SECONDS:.0f}s:\n{server.log_tail()}")


def stop(server: LabServer) -> None:
    """Kernels first (normal shutdown), then the server; whatever still lives below it is killed."""
    below = descendants(server.process.pid)
    if server.process.poll() is None:
        with contextlib.suppress(OSError):
            server.shutdown_kernels()
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(SERVER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    for pid in below:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def lab(lab_server: LabServer) -> Iterator[LabServer]:
    """The session's JupyterLab; the kernels a test started are shut down after it."""
    yield lab_server
    if lab_server.process.poll() is None:
        lab_server.shutdown_kernels()


# -- the browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright (never a browser Playwright downloads)."""
    if not Path(CHROMIUM).exists():
        missing(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright for Python is not installed (pip install playwright)")
    with sync_playwright() as playwright:
        # Playwright's launch gives the browser a new, empty user-data-dir and removes it on close
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, lab: LabServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page in its own browser context for the session's JupyterLab, closed before that test's
    kernels are shut down; on failure a screenshot and the console are saved as artifacts."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.on("dialog", lambda dialog: dialog.accept())  # a "leave page?" prompt must not block navigation
    try:
        yield page
    finally:
        if request.node.stash.get(FAILED, False):
            with contextlib.suppress(Exception):
                save_screenshot(page, request.node.name, "failed")
            (ARTIFACTS / f"{artifact_stem(request.node.name)}-failed-console.txt").write_text("\n".join(console))
        context.close()


def artifact_stem(test_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)


def save_screenshot(page: Any, test_name: str, label: str) -> Path:
    """Save a full-page PNG as ``test-artifacts/<test>-<label>.png`` and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{artifact_stem(test_name)}-{artifact_stem(label)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """``screenshot(page, label)`` saves ``test-artifacts/<test>-<label>.png``."""
    return lambda page, label: save_screenshot(page, request.node.name, label)


@pytest.fixture
def open_lab(page: Any, lab: LabServer) -> Callable[..., Any]:
    """``open_lab(path="", kernel_idle=False)`` loads JupyterLab in ``page`` with a fresh layout,
    opening ``path`` (a file under ``lab.root``) if given, and waits until JupyterLab has restored,
    the document is shown and, with ``kernel_idle``, its kernel is idle. Returns the page."""

    def load(path: str = "", kernel_idle: bool = False) -> Any:
        page.goto(lab.lab_url(path))
        page.wait_for_function("() => window.jupyterapp !== undefined", timeout=LAB_READY_MS)
        page.wait_for_function(
            "() => { const app = window.jupyterapp; app.restored.then(() => { app.shimtaskRestored = true; });"
            " return app.shimtaskRestored === true; }",
            timeout=LAB_READY_MS,
        )
        page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=LAB_READY_MS)
        if path:
            page.locator(".jp-Document").first.wait_for(timeout=LAB_READY_MS)
        if kernel_idle:
            wait_for_kernel_idle(page)
        return page

    return load


def wait_for_kernel_idle(page: Any, timeout_ms: float = LAB_READY_MS) -> None:
    """Wait until the current document's kernel is connected and idle."""
    page.wait_for_function(
        "() => { const kernel = window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel;"
        " return kernel?.status === 'idle' && kernel?.connectionStatus === 'connected'; }",
        timeout=timeout_ms,
    )


@pytest.fixture
def run_command(page: Any) -> Callable[..., Any]:
    """``run_command(id, args=None, timeout_ms=60000)`` executes a JupyterLab command, as the command
    palette would, and returns its result when that is a plain value (``None`` otherwise)."""

    def execute(command: str, args: dict[str, Any] | None = None, timeout_ms: float = 60_000) -> Any:
        return page.evaluate(
            """([id, args, ms]) => Promise.race([
                window.jupyterapp.commands.execute(id, args)
                    .then(result => (result === null || typeof result !== 'object') ? result ?? null : null),
                new Promise((_, reject) => setTimeout(
                    () => reject(new Error(`command ${id} did not finish within ${ms} ms`)), ms)),
            ])""",
            [command, args or {}, timeout_ms],
        )

    return execute


def custom_task_cell(module: str, task: str, custom: str, inputs: str = "name=str") -> str:
    """A ``%%shimtask`` cell defining the task ``task`` whose ``custom`` is the Python expression ``custom``."""
    return (
        textwrap.dedent(
            """\
        %%shimtask MODULE
        from flytekit import kwtypes
        from flytekit.core.interface import Interface
        from flytekit.core.python_customized_container_task import PythonCustomizedContainerTask
        from flytekit.extend import ShimTaskExecutor


        class CustomExecutor(ShimTaskExecutor):
            def execute_from_model(self, tt, **inputs):
                return tt.custom["greeting"]


        class CustomTask(PythonCustomizedContainerTask):
            def __init__(self, name, custom):
                self.custom = custom
                super().__init__(
                    name=name,
                    task_config=None,
                    container_image="shimtask-runtime:test",
                    executor_type=CustomExecutor,
                    task_type="custom",
                    interface=Interface(inputs=kwtypes(INPUTS), outputs=kwtypes(greeting=str)),
                )

            def get_custom(self, settings):
                return self.custom
        """
        )
        .replace("MODULE", module)
        .replace("INPUTS", inputs)
        + f"\n\n{task} = CustomTask({task!r}, {custom})\n"
    )
