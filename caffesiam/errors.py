"""The one exception hierarchy; the CLI turns each into a one-line message and an exit code."""


class CaffesiamError(Exception):
    """Raised when caffesiam cannot do what was asked; exit code 1 (a tool failure)."""

    exit_code = 1


class BadInput(CaffesiamError):
    """Raised when the user's input is wrong; exit code 2."""

    exit_code = 2


class BadOption(BadInput):
    """Raised when an option's value, or options given together, cannot work; `option` names it
    (as "--jitter") and `reason` says why, so a command can report it as click does."""

    def __init__(self, option: str, reason: str):
        super().__init__(f"{option}: {reason}")
        self.option = option
        self.reason = reason


class SpecError(BadInput):
    """Raised when a tower spec or prototxt is invalid."""


class DatasetError(BadInput):
    """Raised when source data (IDX files, image folders, pair lists) is unusable."""


class DatabaseError(BadInput):
    """Raised when a LevelDB/LMDB database is missing, locked, empty or of the wrong kind."""


class SolverError(BadInput):
    """Raised when a solver prototxt or what it names is missing or invalid."""


class ModelError(BadInput):
    """Raised when a model and its weights do not fit together."""


class ExportError(BadInput):
    """Raised when a net has a layer or setting that the ONNX export cannot convert exactly."""


class SweepError(BadInput):
    """Raised when a sweep file, or what it names, cannot make a sweep."""


class OutputExists(BadInput):
    """Raised when an output already exists and --force was not given."""


class CaffeNotFound(CaffesiamError):
    """Raised when the Caffe binary, pycaffe or caffe_pb2 is not installed."""


class ToolMissing(CaffesiamError):
    """Raised when an external program (dot, docker) is not installed."""


class DockerFailed(CaffesiamError):
    """Raised when docker cannot run the image: no daemon, no permission, no such image, no GPU
    runtime; the message is docker's own words, then the fix where one is known."""


class DiskFull(CaffesiamError):
    """Raised when a filesystem fills up during a write; what was written is removed."""


class TrainingFailed(CaffesiamError):
    """Raised when the caffe process dies; carries the log line that says why and its status.
    The exit code is 1 whatever Caffe's own status was (the message names that status)."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


class TrainingDiverged(CaffesiamError):
    """Raised when the training loss stops being finite; Caffe was stopped there with a snapshot."""
