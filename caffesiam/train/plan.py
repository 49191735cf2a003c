"""What a training run will do, decided before Caffe starts."""

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional


@dataclass
class TrainPlan:
    solver_path: Path
    solver: object  # the run's SolverParameter (a copy with our overrides)
    cwd: Path
    net_path: Path
    sources: List[Path]
    run_dir: Path
    snapshot_prefix: Path
    start_iter: int = 0
    weights: Optional[Path] = None
    resume: Optional[Path] = None
    gpu: Optional[str] = None  # None: CPU; "0", "0,1" or "all"
    shares_params: bool = False

    @property
    def run_solver(self) -> Path:
        return self.run_dir / "solver.prototxt"

    @property
    def iterations(self) -> int:
        return max(self.solver.max_iter - self.start_iter, 0)
