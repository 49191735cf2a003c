"""The validated tower and its data and loss settings: plain dataclasses, the spec's vocabulary."""

from dataclasses import dataclass, field

from caffesiam.data.backends import DEFAULT_BACKEND

LOSSES = ("contrastive", "contrastive-legacy", "chopra2005", "triplet")
INPUT_SCALE = 0.00390625  # 1/256 on uint8 pixels, as Caffe's siamese example and the templates


@dataclass(frozen=True)
class DataSpec:
    """The pair data feeding the siamese net."""

    train_source: str = "pairs_train_leveldb"
    test_source: str = "pairs_test_leveldb"
    backend: str = DEFAULT_BACKEND
    batch_size: int = 64
    test_batch_size: int = 100
    scale: float = INPUT_SCALE
    channels: int = 1
    height: int = 28
    width: int = 28


@dataclass(frozen=True)
class LossSpec:
    kind: str = "contrastive"
    margin: float = 1.0  # contrastive and triplet
    q: float = 5.0  # chopra2005's Q

    @property
    def towers(self) -> int:
        return 3 if self.kind == "triplet" else 2


@dataclass
class Tower:
    """One validated tower: its layers read `data` and end in `output`."""

    name: str
    layers: list = field(default_factory=list)
    data: DataSpec = DataSpec()
    loss: LossSpec = LossSpec()

    @property
    def output(self) -> str:
        return self.layers[-1].top[0]


def resolve_loss(
    loss: LossSpec, kind: str = None, margin: float = None, q: float = None, legacy: bool = None
) -> LossSpec:
    """`loss` with overrides (None keeps its value); `legacy` means contrastive-legacy."""
    kind = "contrastive-legacy" if legacy else kind if kind is not None else loss.kind
    return LossSpec(
        kind=kind, margin=loss.margin if margin is None else margin, q=loss.q if q is None else q
    )
