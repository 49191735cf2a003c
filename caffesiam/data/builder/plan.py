"""What build-db will write, decided from the request and the loaded images (pure: no file is read).

Plan apart from apply, as train.plan: a `BuildRequest` is what was asked, refused at once when its
options contradict each other; `plan_sets` and `plan_pair_list` decide the databases, their paths,
record counts and seeds (`plan_mined` gives one the rows that mine drew); `draw_rows` samples a
database's records and `manifest_extra` describes them for its manifest.
"""

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from caffesiam.data.augment import Jitter
from caffesiam.data.backends import DEFAULT_BACKEND
from caffesiam.data.classes import ClassList, ClassSplit, class_split
from caffesiam.data.manifest import per_class
from caffesiam.data.pairs import sample_pairs, sample_triplets, split_by_image
from caffesiam.data.sources.imageset import ImageSet
from caffesiam.errors import BadInput, BadOption
from caffesiam.files import safe_name

SEED = 0
TEST_FRACTION = 0.2  # embed --digits --split test reads the images these defaults hold out
SPLITS = ("train", "test")
ALL = "all"  # a pair list's one database: every listed pair, named without a split
_PAIR_ONLY = ("caffe_compat", "allow_self")  # options that mean nothing for triplets


def db_path(out, prefix: str, backend: str, split: str = ALL, triplets: bool = False) -> Path:
    """OUT/<prefix>_siamese_<split>_<backend> (triplets: _triplet_); a pair list's has no split."""
    parts = [prefix, "triplet" if triplets else "siamese"] + ([] if split == ALL else [split])
    return Path(out) / "_".join(parts + [backend])


def derived_name(name: str, what: str) -> str:
    """`name` (a folder's or a file's) as a database prefix, or BadOption asking for --name."""
    try:
        return safe_name(name, what)
    except BadInput as e:
        raise BadOption("--name", f"{e}; pass --name") from None


@dataclass(frozen=True)
class BuildRequest:
    """What build-db was asked to write; BadOption when the options contradict each other."""

    prefix: str
    out: Path
    splits: tuple[str, ...] = SPLITS  # the databases to build (a pair list: (ALL,))
    backend: str = DEFAULT_BACKEND
    force: bool = False
    pairs: int | None = None  # train records; None: one per train image
    test_pairs: int | None = None  # test records; None: one per test image
    positive_ratio: float = 0.5
    caffe_compat: bool = False
    allow_self: bool = False
    seed: int = SEED
    triplets: bool = False
    augment: bool = False
    jitter: Jitter | None = None  # --augment's ranges; None: Jitter()'s
    # the classes of each database: a list not given is every class the other leaves; with
    # neither, the databases split the source by image
    train_classes: ClassList | None = None
    test_classes: ClassList | None = None

    def __post_init__(self):
        for name in _PAIR_ONLY:
            if self.triplets and getattr(self, name):
                raise BadOption("--" + name.replace("_", "-"), "does not apply to --triplets")
        if self.jitter and not self.augment:
            raise BadOption("--jitter", "sets --augment's ranges; add --augment")
        if self.augment and "train" not in self.splits:
            raise BadOption("--augment", "augments the train database only; none is built")

    def target(self, split: str) -> Path:
        return db_path(self.out, self.prefix, self.backend, split, self.triplets)

    @property
    def targets(self) -> list[Path]:
        return [self.target(split) for split in self.splits]

    def class_split(self, class_names: list[str]) -> ClassSplit | None:
        """The classes of each database, when class lists were given; BadOption naming a list
        that cannot work with these classes."""
        return class_split(self.train_classes, self.test_classes, class_names)


@dataclass(frozen=True)
class DbPlan:
    """One database: its split, path, images, record count and how its records are drawn."""

    split: str
    target: Path
    images: ImageSet
    records: int
    seed: int  # the sampler's: the request's seed plus the database's place in the plan
    jitter: Jitter | None = None  # the train database's, with --augment
    rows: np.ndarray | None = None  # the records a pair list gives, or mine drew; None: sampled
    mining: dict | None = None  # how mine drew the rows (weights, neighbours, hard ratio)


@dataclass(frozen=True)
class BuildPlan:
    request: BuildRequest
    databases: list[DbPlan]

    @property
    def images_per_record(self) -> int:
        return 3 if self.request.triplets else 2

    @property
    def records(self) -> int:
        return sum(db.records for db in self.databases)

    @property
    def asked(self) -> str:
        """The options that set the record counts, with those counts (for a refusal)."""
        if self.databases[0].split == ALL:
            return "the list's pairs"
        return " and ".join(
            f"--{'pairs' if db.split == 'train' else 'test-pairs'} {db.records:,}"
            for db in self.databases
        )

    @property
    def skipped(self) -> int:
        """Image files of the source that could not be decoded."""
        return self.databases[0].images.skipped


def split_images(source: ImageSet, test_fraction=TEST_FRACTION, seed=SEED) -> dict[str, ImageSet]:
    """{"train": ..., "test": ...}: the source split by image (seeded), so none is in both."""
    train, test = split_by_image(len(source.labels), test_fraction, seed)
    return {"train": source.subset(train), "test": source.subset(test)}


def plan_sets(request: BuildRequest, sets: dict[str, ImageSet]) -> BuildPlan:
    """A database per split of `sets`, in order: records as asked, else one per image."""
    databases = []
    for offset, (split, images) in enumerate(sets.items()):
        asked = request.pairs if split == "train" else request.test_pairs
        augmented = request.augment and split == "train"
        databases.append(
            DbPlan(
                split,
                request.target(split),
                images,
                asked or len(images.labels),
                request.seed + offset,
                (request.jitter or Jitter()) if augmented else None,
            )
        )
    return BuildPlan(request, databases)


def plan_pair_list(request: BuildRequest, images: ImageSet, rows: np.ndarray) -> BuildPlan:
    """The one database of a pair list: its rows as given."""
    db = DbPlan(ALL, request.target(ALL), images, len(rows), request.seed, rows=rows)
    return BuildPlan(request, [db])


def plan_mined(plan: BuildPlan, rows: np.ndarray, mining: dict) -> BuildPlan:
    """`plan`'s one database (plan_sets' train database), its records the rows that mine drew
    as `mining` describes."""
    (db,) = plan.databases
    return BuildPlan(plan.request, [replace(db, rows=rows, mining=mining)])


def draw_rows(request: BuildRequest, db: DbPlan) -> np.ndarray:
    """The database's records as plan rows: [i, j, sim] per pair, [a, p, n, 0] per triplet."""
    if db.rows is not None:
        return db.rows
    labels = db.images.labels
    if request.triplets:
        return sample_triplets(labels, db.records, db.seed)
    return sample_pairs(
        labels,
        db.records,
        request.positive_ratio,
        db.seed,
        request.allow_self,
        request.caffe_compat,
    )


def manifest_extra(request: BuildRequest, db: DbPlan, rows: np.ndarray) -> dict:
    """What the manifest says of the database's source and sampling, beside its shape and counts."""
    if db.split == ALL:
        return {"source": db.images.source, "split": ALL}
    if db.mining is not None:
        present = np.unique(db.images.labels).tolist()
        return {
            "source": db.images.source,
            "split": db.split,
            "classes": [db.images.class_name(c) for c in present],
            "seed": request.seed,
            "augment": _augment(db),
            "positive_ratio": request.positive_ratio,
            "mining": db.mining,
            "skipped_images": db.images.skipped,
            "per_class": per_class(db.images, rows),
        }
    classes = request.class_split(db.images.class_names)
    return {
        "source": db.images.source,
        "split": db.split,
        **{  # train_classes and test_classes: the class names of each; None: split by image
            f"{split}_classes": [db.images.class_name(c) for c in getattr(classes, split)]
            if classes
            else None
            for split in SPLITS
        },
        "seed": request.seed,
        "augment": _augment(db),
        "positive_ratio": None
        if request.caffe_compat or request.triplets
        else request.positive_ratio,
        "caffe_compat": request.caffe_compat,
        "skipped_images": db.images.skipped,
        "per_class": per_class(db.images, rows),
    }


def _augment(db: DbPlan) -> dict | None:
    """--augment's ranges as the manifest records them; None: not augmented."""
    return db.jitter.describe() if db.jitter else None


def parse_image_size(value: str) -> tuple[int, int]:
    """'64x64' -> (64, 64): the size every image is resized to; ValueError when it is not WxH."""
    try:
        width, height = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise ValueError(f"expected WxH such as 64x64, got {value!r}") from None
    if width < 1 or height < 1:
        raise ValueError(f"width and height must be positive, got {value!r}")
    return width, height
