"""Writing what build-db planned: room checked, every database's records drawn, then each written.

SIGINT and SIGTERM raise KeyboardInterrupt while a database is written, so the half-built one is
removed (data.swap) and whatever was at its path stays untouched.
"""

import math
from collections.abc import Iterator
from pathlib import Path

from caffesiam.caffe.runner import stop_signals
from caffesiam.data.augment import jitter_images
from caffesiam.data.builder.gather import Progress, no_progress
from caffesiam.data.builder.plan import BuildPlan, draw_rows, manifest_extra
from caffesiam.data.write import db_bytes, write_pair_db
from caffesiam.limits import require_memory, require_space


def check_room(plan: BuildPlan):
    """BadInput, before sampling, when the rows do not fit in memory or the databases on disk."""
    shape = plan.databases[0].images.images.shape[1:]
    total, per_record = plan.records, plan.images_per_record
    what = f"{plan.asked}: {total:,} records of {per_record} images of {'x'.join(map(str, shape))}"
    require_memory(total * (per_record + 1) * 8, what)
    require_space(plan.request.out, db_bytes(math.prod(shape), total, per_record), what)


def write_databases(
    plan: BuildPlan, progress: Progress = no_progress
) -> Iterator[tuple[Path, dict]]:
    """(path, manifest) of each database as it is written. Every database's rows are drawn
    before the first is written, so labels that cannot make pairs write nothing."""
    check_room(plan)
    request = plan.request
    drawn = [draw_rows(request, db) for db in plan.databases]
    for db, rows in zip(plan.databases, drawn):
        with (
            stop_signals(_interrupt),
            progress(len(rows), f"writing {db.target.name}") as advance,
        ):
            manifest = write_pair_db(
                db.target,
                db.images.images,
                rows,
                request.backend,
                request.force,
                manifest_extra(request, db, rows),
                advance,
                _jitter_transform(db.jitter, request.seed),
            )
        yield db.target, manifest


def _jitter_transform(jitter, seed):
    """write_pair_db's `transform` for a jittered database: each batch seeded by (seed, its key)."""
    if jitter is None:
        return None
    return lambda batch, key: jitter_images(batch, jitter, (seed, key))


def _interrupt():
    raise KeyboardInterrupt
