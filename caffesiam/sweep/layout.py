"""The names of everything in a sweep directory, in one place.

DIR/sweep.json      the points, the engine's settings and the Slurm jobs submitted
DIR/sweep.yaml      a copy of the sweep file
DIR/sweep.sbatch    the Slurm array job's script
DIR/logs/           the engines' own output per task (Slurm's --output, the local pool's)
DIR/<point>/        point.json, command.sh (the commands that made and run it), net.prototxt,
                    deploy.prototxt, solver.prototxt; once run: task.json, task.log, train/ (then
                    train_2/... after a resume), snap/, eval.json, roc.png
"""

SWEEP_JSON = "sweep.json"
SWEEP_YAML = "sweep.yaml"
SBATCH_SCRIPT = "sweep.sbatch"
LOGS = "logs"

POINT_JSON = "point.json"
COMMAND_SH = "command.sh"
NET_PROTOTXT = "net.prototxt"
DEPLOY_PROTOTXT = "deploy.prototxt"
SOLVER_PROTOTXT = "solver.prototxt"
SNAPSHOT_PREFIX = "snap/net"
STALE_SNAPSHOTS = "snap/stale"  # unfinished snapshots past the one a resumed run continues from
TRAIN_DIR = "train"
TASK_JSON = "task.json"
TASK_LOG = "task.log"
EVAL_JSON = "eval.json"
ROC_PNG = "roc.png"

RESULTS_CSV = "results.csv"
CURVES_PNG = "curves.png"
ACCURACY_PNG = "accuracy.png"
SLURM_LOG = "slurm-%A_%a.out"  # each array task's output in LOGS (sbatch --output's pattern)


def local_log(index: int) -> str:
    """The local pool's output of point `index`, in LOGS."""
    return f"local-{index}.out"
