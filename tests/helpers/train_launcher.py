"""Runs training launches for the resume tests, each in a forked child of this process: the imports (6 s of
Lightning) are paid once, not per launch, and this process never computes, so its children start clean.

Reads one JSON request a line on stdin, ``{"arguments": [...], "log": PATH}``; runs ``experiments.train``'s
``main(arguments)`` in a child with stderr to ``log``; answers ``{"code": EXIT_CODE}`` (-9: killed by SIGKILL).
"""
from __future__ import annotations

import json
import os
import sys
import traceback

# imported here once rather than in every child (the siamrpnpp/demo launches of the resume tests)
import callbacks.run_checkpoints  # noqa: F401
import datamodules.pair_datamodule  # noqa: F401
import lightning_modules.checkpoint_io  # noqa: F401
import lightning_modules.siamrpnpp  # noqa: F401
import pytorch_lightning.loggers  # noqa: F401
from experiments.train import main


def launch(arguments: list[str], log: str) -> int:
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(descriptor, 1)
            os.dup2(descriptor, 2)
            sys.stdout = os.fdopen(1, "w", buffering=1)
            sys.stderr = os.fdopen(2, "w", buffering=1)
            main(arguments)
            code = 0
        except BaseException:  # noqa: BLE001 - reported through the log and the exit code
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    for line in sys.stdin:
        request = json.loads(line)
        print(json.dumps({"code": launch(request["arguments"], request["log"])}), flush=True)
