"""Slow: real training on all of Fashion-MNIST learns (run with `pytest -m slow`)."""

import pytest

from tflite_lite.run_record import RunRecord
from tflite_lite.training import TrainConfig, train

pytestmark = pytest.mark.slow


# Two epochs on all 54,000 training images: about 5 minutes alone on 2 cores, and twice that
# beside the other worker's tests on a busy machine. The 10-minute default is a hang guard, and
# this is no hang.
@pytest.mark.timeout(1800)
def test_mobilenet_v2_learns_fashion_mnist_in_two_epochs(tmp_path):
    record = train(TrainConfig(model="mobilenet_v2_035", epochs=2, output_dir=str(tmp_path),
                               verbose=2))
    assert record["num_examples"]["train"] == 54_000
    assert record["test_accuracy"] >= 0.85
    assert RunRecord.load(tmp_path)["test_accuracy"] == record["test_accuracy"]
