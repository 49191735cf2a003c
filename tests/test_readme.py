"""The README's example does what the README says: its tower becomes a siamese net with shared
weights that reads the databases `build-db fashion-mnist --out data` writes, and its snapshots
carry the name that the README's evaluate command reads."""

import re

import pytest
from conftest import REPO

from caffesiam.caffe.proto import caffe_pb2, parse_text

pytestmark = pytest.mark.caffe

README = (REPO / "README.md").read_text()


def test_the_readme_tower_becomes_a_siamese_net_with_shared_weights(cli, tmp_path):
    spec = tmp_path / "tower.yaml"
    spec.write_text(re.search(r"```yaml\n(.*?)```", README, re.S).group(1))
    made = cli("gen-net", spec, "-o", tmp_path / "train_test.prototxt")
    assert made.exit_code == 0, made.stderr
    net = parse_text((tmp_path / "train_test.prototxt").read_text(), caffe_pb2().NetParameter())

    users = {}
    for layer in net.layer:
        for param in layer.param:
            users.setdefault(param.name, []).append(layer.name)
    learned = ("conv1", "ip1", "feat")
    assert users == {f"{name}_{role}": [name, f"{name}_p"] for name in learned for role in "wb"}
    sources = {layer.data_param.source for layer in net.layer if layer.type == "Data"}
    assert sources == {f"data/fashion_mnist_siamese_{split}_leveldb" for split in ("train", "test")}

    solver = cli("gen-solver", tmp_path / "train_test.prototxt", "--max-iter", 3000)
    assert solver.exit_code == 0, solver.stderr
    prefix = parse_text(solver.stdout, caffe_pb2().SolverParameter()).snapshot_prefix
    assert f"--weights {prefix.rsplit('/', 1)[-1]}_iter_3000.caffemodel" in README
