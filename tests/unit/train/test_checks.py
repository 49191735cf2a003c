"""train's option values, checked before anything is read."""

import pytest

from caffesiam.errors import BadInput
from caffesiam.limits import BLAS_THREADS_MAX
from caffesiam.train.checks import check_blas_threads, check_gpu_ids, check_image_name


@pytest.mark.parametrize("value", ["0", "3", "0,1", "1,0,2", "all"])
def test_gpu_ids_that_caffe_takes(value):
    assert check_gpu_ids(value) == value


@pytest.mark.parametrize("value", ["", "-1", "0,", ",1", "0;1", "gpu0", "ALL", "0 1"])
def test_gpu_ids_that_it_does_not(value):
    with pytest.raises(BadInput, match=r"use an id \(0\), a list \(0,1\) or 'all'"):
        check_gpu_ids(value)


@pytest.mark.parametrize(
    "value", ["caffesiam:cpu", "registry.example.org:5000/team/caffesiam:gpu", "img@sha256:ab12"]
)
def test_image_names(value):
    assert check_image_name(value) == value


@pytest.mark.parametrize("value", ["--privileged", "-v/:/host", "", "a b", ":tag", "img;rm"])
def test_what_docker_would_read_as_an_option_or_garbage_is_refused(value):
    with pytest.raises(BadInput, match="is not an image name"):
        check_image_name(value)


def test_blas_threads_is_auto_or_a_bounded_count():
    assert [check_blas_threads(v) for v in ("auto", "1", str(BLAS_THREADS_MAX))] == [
        "auto",
        "1",
        str(BLAS_THREADS_MAX),
    ]
    for bad in ("0", str(BLAS_THREADS_MAX + 1), "-2", "two", "", "1.5"):
        with pytest.raises(BadInput) as e:
            check_blas_threads(bad)
        assert str(e.value) == f"'auto' or a number from 1 to {BLAS_THREADS_MAX}"
