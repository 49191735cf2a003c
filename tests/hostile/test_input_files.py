"""Class: files that are not text, and inputs that are small but explode.

Every file a user hands in goes through files.read_file: a regular file only, a size bound,
strict UTF-8, nesting and alias expansion bounded. Each case: exit 2, one line naming the file
and the problem, nothing written.
"""

import os

import pytest
from conftest import REPO

from caffesiam.limits import PROTO_BYTES, TEXT_BYTES, YAML_DEPTH
from hostile.helpers import changes, refused, run, snapshot

pytestmark = [
    pytest.mark.caffe,
    pytest.mark.slow,
]  # one process per case: the battery as a whole is slow

# kind -> (how the file is made, words of the one line)
KINDS = {
    "fifo": (lambda p: os.mkfifo(p), "is a FIFO"),
    "dev_zero": (lambda p: p.symlink_to("/dev/zero"), "is a character device"),
    "nul_bytes": (lambda p: p.write_bytes(b"name: x\n\0\0\0\x01binary"), ":2: a NUL byte"),
    "utf16": (lambda p: p.write_bytes("name: x\n".encode("utf-16")), "is UTF-16 text"),
    "latin1": (lambda p: p.write_bytes(b"name: x\n# caf\xe9\n"), ":2: byte 0xe9 is not UTF-8"),
    "oversize": (lambda p: os.truncate(p.open("w").name, TEXT_BYTES + 1), "larger than 67.1 MB"),
    "missing": (lambda p: None, "no such"),
}


def _args(command, bad, model, pair_db, tmp_path):
    deploy, weights = model
    return {
        "gen-net yaml": ["gen-net", bad],
        "gen-net prototxt": ["gen-net", bad],
        "gen-solver": ["gen-solver", bad],
        "draw": ["draw", bad, "-o", tmp_path / "out.png"],
        "train": ["train", bad, "--out", tmp_path / "run"],
        "evaluate --model": [
            "evaluate",
            "--model",
            bad,
            "--weights",
            weights,
            "--db",
            pair_db,
            "--json",
            tmp_path / "e.json",
        ],
        "evaluate --train-net": [
            "evaluate",
            "--model",
            deploy,
            "--weights",
            weights,
            "--db",
            pair_db,
            "--train-net",
            bad,
            "--json",
            tmp_path / "e.json",
        ],
        "embed --model": [
            "embed",
            "--model",
            bad,
            "--weights",
            weights,
            "--db",
            pair_db,
            "-o",
            tmp_path / "e.npz",
        ],
        "build-db pairs": ["build-db", "pairs", bad, "--out", tmp_path / "out"],
    }[command]


# Every command meets three kinds (gen-net's YAML reader all of them), so each kind is met often.
CASES = [("gen-net yaml", kind) for kind in KINDS] + [
    ("gen-net prototxt", "utf16"),
    ("gen-net prototxt", "oversize"),
    ("gen-net prototxt", "fifo"),
    ("gen-solver", "dev_zero"),
    ("gen-solver", "nul_bytes"),
    ("gen-solver", "latin1"),
    ("draw", "fifo"),
    ("draw", "utf16"),
    ("draw", "oversize"),
    ("train", "dev_zero"),
    ("train", "latin1"),
    ("train", "missing"),
    ("evaluate --model", "fifo"),
    ("evaluate --model", "nul_bytes"),
    ("evaluate --model", "utf16"),
    ("evaluate --train-net", "dev_zero"),
    ("evaluate --train-net", "latin1"),
    ("evaluate --train-net", "oversize"),
    ("embed --model", "dev_zero"),
    ("embed --model", "utf16"),
    ("embed --model", "fifo"),
    ("build-db pairs", "fifo"),
    ("build-db pairs", "nul_bytes"),
    ("build-db pairs", "utf16"),
]


@pytest.mark.parametrize("command,kind", CASES)
def test_not_text(command, kind, tmp_path, model, pair_db):
    make, words = KINDS[kind]
    bad = tmp_path / ("input.yaml" if command == "gen-net yaml" else "input.prototxt")
    make(bad)
    before = snapshot(tmp_path)
    line = refused(run(*_args(command, bad, model, pair_db, tmp_path)), 2, words)
    assert str(bad) in line
    assert changes(before, tmp_path) == set()


@pytest.mark.parametrize(
    "kind,words",
    [
        ("fifo", "is a FIFO"),
        ("dev_zero", "is a character device"),
        ("oversize", "larger than 2.1 GB"),
        ("junk", "not a Caffe .caffemodel"),
    ],
)
def test_weights_that_are_not_weights(kind, words, tmp_path, model, pair_db):
    deploy, _ = model
    bad = tmp_path / "w.caffemodel"
    if kind == "oversize":  # sparse: no disk used
        os.truncate(bad.open("w").name, PROTO_BYTES + 1)
    elif kind == "junk":
        bad.write_bytes(os.urandom(4096))
    else:
        KINDS[kind][0](bad)
    refused(
        run("evaluate", "--model", deploy, "--weights", bad, "--db", pair_db), 2, str(bad), words
    )


@pytest.mark.parametrize(
    "kind,words",
    [
        ("fifo", "is a FIFO"),
        ("dev_zero", "is a character device"),
        ("binary", "no training iterations found"),
    ],
)
def test_plot_log_of_what_is_not_a_log(kind, words, tmp_path):
    log = tmp_path / "train.log"
    if kind == "binary":
        log.write_bytes(os.urandom(1 << 16))
    else:
        KINDS[kind][0](log)
    refused(run("plot-log", log, "-o", tmp_path / "x.png"), 2, str(log), words)
    assert not (tmp_path / "x.png").exists()


def _alias_bomb() -> str:
    """~600 bytes that name 1000 layers x 1000 shapes x 10 dims: ten million values."""
    shapes = ", ".join(["*s"] * 1000)
    return (
        "tower:\n- &l {name: in, type: Input, top: data, input_param: {shape: "
        f"[&s {{dim: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]}}, {shapes}]}}}}\n"
        + "".join("- *l\n" for _ in range(999))
    )


LENET = (REPO / "templates/lenet.yaml").read_text()


@pytest.mark.parametrize(
    "text,words",
    [
        ("tower: " + "[" * 60000 + "]" * 60000, f"nested more than {YAML_DEPTH} levels deep"),
        (
            "tower:\n" + "".join("  " * i + "- x:\n" for i in range(100)),
            f"nested more than {YAML_DEPTH}",
        ),
        (_alias_bomb(), "expands to more than 1,000,000 values"),
        (
            LENET.replace("num_output: 20", "num_output: 99999999999"),
            "num_output: expected an integer from 0 to 4294967295 (uint32), got 99999999999",
        ),
        (LENET.replace("num_output: 20", "num_output: -3"), "(uint32), got -3"),
        (LENET.replace("margin: 1", "margin: .nan"), "loss.margin must be a finite number"),
        (
            LENET.replace("batch_size: 64", "batch_size: 5000000000"),
            "data.batch_size: expected an integer",
        ),
        (LENET.replace("kernel_size: 5", "kernel_size: 1.0e+400"), "(uint32), got inf"),
        (
            LENET.replace("name: conv1", 'name: "conv\\ud8001"'),
            "expected a string of valid Unicode",
        ),
        (LENET.replace("scale: 0.00390625", "scale: .inf"), "data.scale: expected a finite number"),
        ("tower: 2020-02-31", "invalid YAML value: day is out of range"),
    ],
    ids=[
        "brackets",
        "block-nesting",
        "alias-bomb",
        "uint32",
        "negative",
        "nan",
        "batch-int32",
        "inf-int",
        "surrogate",
        "inf-scale",
        "bad-date",
    ],
)
def test_specs_that_explode(text, words, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text, errors="surrogatepass")
    refused(run("gen-net", spec, "-o", tmp_path / "net.prototxt", timeout=60), 2, str(spec), words)
    assert not (tmp_path / "net.prototxt").exists()


@pytest.mark.parametrize(
    "command,text,words",
    [
        (
            "gen-solver",
            'name: "n"\nlayer { name: "a" type: "Input" top: "a" input_param { shape { dim: 99999999999999999999 } } }',  # noqa: E501 (the column is checked)
            "2:69: Value out of range: 99999999999999999999",
        ),
        ("draw", 'layer { name: "a\\377" type: "ReLU" }', "Couldn't parse string"),
    ],
)
def test_prototxt_values_out_of_range(command, text, words, tmp_path):
    net = tmp_path / "net.prototxt"
    net.write_text(text)
    out = ["-o", tmp_path / "x.png"] if command == "draw" else []
    refused(run(command, net, *out), 2, str(net), words)


@pytest.mark.parametrize("packed,words", [(True, "of memory"), (False, "truncated")])
def test_idx_headers_that_promise_too_much(packed, words, tmp_path):
    """A 16-byte IDX header can promise 2**31 x 2**15 x 2**15 pixels: refused by what the machine
    has (gzip: the size is known only from the header) or by the file's own length (raw)."""
    import gzip

    source = tmp_path / "mnist"
    source.mkdir()
    header = (0x803).to_bytes(4, "big") + b"".join(
        n.to_bytes(4, "big") for n in (2**31, 2**15, 2**15)
    )
    labels = (0x801).to_bytes(4, "big") + (2**31).to_bytes(4, "big")
    for name, data in (
        ("train-images-idx3-ubyte", header + bytes(64)),
        ("train-labels-idx1-ubyte", labels + bytes(64)),
    ):
        if packed:
            (source / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (source / name).write_bytes(data)
    refused(
        run("build-db", "mnist", "--source", source, "--split", "train", "--out", tmp_path / "out"),
        2,
        "train-images-idx3-ubyte",
        words,
    )
    assert not (tmp_path / "out").exists()
