"""Standalone code that runs inside pyflyte-execute processes and images (stdlib and flytekit only).

Runs put this folder on PYTHONPATH, so its modules import one another by their top-level names
(``shimtask_output_probe``, ``shimtask_warm_worker``) and import nothing from jupyter_shimtask:
an image need not have it installed.
"""
