"""The `platform.demo_count` job: counts to N, one line per number, resumable.

For demos and tests of the job machinery (progress, errors, result file,
restart after a crash). It shows how a handler stays idempotent per item when
its side effect is a file: the checkpoint saves the file's length with the
progress, and a restarted run first cuts the file back to that length, so
numbers written after the last checkpoint are not written twice.
"""

from __future__ import annotations

import os
import time

from grp.workflow.jobs.runner import JobContext

DEMO_COUNT = "platform.demo_count"
MAX_COUNT = 100_000


def demo_count(ctx: JobContext) -> None:
    """Write 1..count to count.txt, one number per line.

    Params: `count`; `delay` (seconds per number); `fail_every` (record an error
    instead of writing multiples of it); `fail_at` (raise at that number).
    """
    params = ctx.job.params
    count = max(0, min(int(params.get("count", 100)), MAX_COUNT))
    delay = max(0.0, min(float(params.get("delay", 0)), 1.0))
    fail_every = int(params.get("fail_every", 0))
    fail_at = int(params.get("fail_at", 0))
    ctx.set_total(count)
    cursor = ctx.checkpoint or {"next": 1, "offset": 0}
    path = ctx.result_path("count.txt")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    with os.fdopen(fd, "r+b") as out:
        out.truncate(cursor["offset"])  # forget what was written after the checkpoint
        out.seek(cursor["offset"])
        for number in range(cursor["next"], count + 1):
            if delay:
                time.sleep(delay)
            if number == fail_at:
                raise RuntimeError(f"asked to fail at {number}")
            if fail_every and number % fail_every == 0:
                ctx.add_error(number, f"{number} is a multiple of {fail_every}")
            else:
                out.write(f"{number}\n".encode())
            # Flushed before the checkpoint that names its length can be committed.
            out.flush()
            ctx.advance(checkpoint={"next": number + 1, "offset": out.tell()})
