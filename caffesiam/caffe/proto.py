"""The one place that loads caffe_pb2 and reads and writes prototxt text."""

import importlib.util
import sys
from functools import cache

from google.protobuf import text_format
from google.protobuf.message import Message

from caffesiam.caffe.locate import SETUP_HINT, caffe_pb2_file
from caffesiam.errors import CaffeNotFound, SpecError
from caffesiam.files import read_file

# The same name pycaffe uses, so that either import order yields one module and one
# registration of caffe.proto in protobuf's descriptor pool.
_MODULE_NAME = "caffe.proto.caffe_pb2"


@cache
def caffe_pb2():
    """The caffe_pb2 module, loaded from its file without importing pycaffe (fast)."""
    if _MODULE_NAME in sys.modules:
        return sys.modules[_MODULE_NAME]
    path = caffe_pb2_file()
    if not path.exists():
        raise CaffeNotFound(f"caffe_pb2.py not found at {path}; {SETUP_HINT}")
    spec = importlib.util.spec_from_file_location(_MODULE_NAME, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def parse_text(text: str, message: Message, source: str = "<text>", error=SpecError) -> Message:
    """Parse prototxt text into `message`; errors name the source, line and column."""
    try:
        text_format.Merge(text, message)
    except text_format.ParseError as e:
        line, col = e.GetLine(), e.GetColumn()
        where = f"{source}:{line}:{col}" if line else source
        detail = str(e).split(" : ", 1)[-1] if line else str(e)
        quoted = (
            f"'{text.splitlines()[line - 1]}': " if 0 < line <= len(text.splitlines()) else None
        )
        if quoted and detail.startswith(
            quoted
        ):  # protobuf repeats the whole line; the column says where
            detail = detail[len(quoted) :]
        raise error(f"{where}: {detail}") from e
    return message


def read_text(path, message: Message, error=SpecError) -> Message:
    """Read a prototxt file into `message`."""
    return parse_text(read_file(path, error), message, str(path), error)


def to_text(message: Message) -> str:
    """Prototxt text of a message, in Caffe's own layout."""
    return text_format.MessageToString(message)
