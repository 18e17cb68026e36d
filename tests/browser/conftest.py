"""Browser fixtures and hooks; they live in browser_lab.py so tests and benchmarks can import them."""

from browser_lab import (  # noqa: F401
    browser,
    lab,
    lab_server,
    notebook7,
    notebook7_server,
    open_lab,
    page,
    pytest_collection_modifyitems,
    pytest_runtest_makereport,
    run_command,
    screenshot,
)
