"""Benchmark harness: host runs on LiteRT, the litert-benchmark cross-check, device mode."""

import csv
import glob
import json
import os
import stat

import pytest

from conftest import REPO, assert_one_line_error, run_main
from tflite_lite.benchmark import (BenchmarkConfig, DeviceConfig, benchmark_device,
                                   benchmark_host, latency_stats, parse_benchmark_model_output,
                                   run_litert_benchmark)
from tflite_lite.errors import UserError

FIXTURES = os.path.join(REPO, "tests", "fixtures", "benchmark_model")


@pytest.fixture(scope="module")
def two_models(trained_run, exported_int8, tmp_path_factory):
    """The trained run exported to int8 and to float32: (int8 path, float32 path)."""
    from tflite_lite.convert import ExportConfig, export_model

    float_path = tmp_path_factory.mktemp("bench") / "model_float32.tflite"
    export_model(ExportConfig(model_path=str(trained_run / "model.keras"), output=str(float_path),
                              mode="float32"))
    return str(exported_int8[0]), str(float_path)


def test_latency_stats():
    stats = latency_stats([1.0, 2.0, 3.0, 4.0, 100.0])
    assert stats["p50_ms"] == 3.0 and stats["min_ms"] == 1.0 and stats["mean_ms"] == 22.0
    assert stats["p50_ms"] <= stats["p90_ms"] <= stats["p99_ms"] <= 100.0


def test_config_round_trips_and_validates():
    config = BenchmarkConfig(models=("a.tflite",), threads=(1, 2), num_runs=5)
    assert BenchmarkConfig.from_config(config.get_config()) == config
    for bad in (dict(threads=(0,)), dict(num_runs=0), dict(baseline="b.tflite"),
                dict(models=())):
        with pytest.raises(UserError):
            BenchmarkConfig(**dict(dict(models=("a.tflite",)), **bad)).validate()


def test_host_benchmark_interleaves_models_and_threads(two_models):
    int8, fp32 = two_models
    rows = benchmark_host(BenchmarkConfig(models=(int8, fp32), threads=(1, 2), num_runs=30,
                                          warmup_runs=3, rounds=3))
    assert [(r["model"], r["threads"]) for r in rows] == [(int8, 1), (fp32, 1), (int8, 2),
                                                           (fp32, 2)]
    for row in rows:
        assert row["num_runs"] == 30
        assert 0 < row["min_ms"] <= row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]
        assert row["init_ms"] > 0 and row["first_inference_ms"] > 0
        assert row["memory_overall_mb"] > 0 and row["peak_rss_mb"] > row["memory_overall_mb"]
        assert row["gmacs_per_second"] == pytest.approx(row["macs"] / row["p50_ms"] / 1e6)
    assert rows[0]["ratio_to_baseline"] == rows[2]["ratio_to_baseline"] == 1.0
    assert rows[1]["size_bytes"] > 2 * rows[0]["size_bytes"]  # float32 vs int8 weights


def test_benchmark_script_writes_table_json_and_csv(two_models, tmp_path):
    int8, fp32 = two_models
    result = run_main("benchmark", "--models", f"{int8},{fp32}", "--threads", "1",
                        "--num_runs", "20", "--baseline", fp32, "--json",
                        str(tmp_path / "b.json"), "--csv", str(tmp_path / "b.csv"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "p50 ms" in result.stdout and "model_int8.tflite" in result.stdout
    record = json.loads((tmp_path / "b.json").read_text())
    assert record["host"]["cores"] >= 1 and len(record["rows"]) == 2
    assert record["rows"][1]["ratio_to_baseline"] == 1.0
    with open(tmp_path / "b.csv") as f:
        assert [row["name"] for row in csv.DictReader(f)] == ["model_int8.tflite",
                                                                "model_float32.tflite"]


def test_litert_benchmark_cross_check_runs(two_models):
    latency = run_litert_benchmark(two_models[1], threads=1, num_runs=10, warmup_runs=2)
    assert latency["median_ms"] >= 0 and latency["num_runs"] == 10


@pytest.mark.parametrize("args,fragment", [
    (["--models", "missing.tflite"], "no such file"),
    (["--models", "README.md"], "not a TFLite flatbuffer"),
    (["--models", "{int8}", "--threads", "two"], "--threads must be integers"),
    (["--models", "{int8}", "--threads", "0"], "thread counts must be >= 1"),
    (["--models", "{int8}", "--baseline", "other.tflite"], "is not one of the models"),
    (["--models", "{int8}", "--device"], "--device needs --benchmark_binary"),
])
def test_benchmark_bad_input(two_models, args, fragment):
    args = [a.format(int8=two_models[0]) for a in args]
    assert_one_line_error(run_main("benchmark", *args), fragment)


EXPECTED = {
    "arm64_vm_mobilenet_v2_4threads.txt": dict(
        init_ms=6.395, first_inference_ms=2.761, warmup_mean_ms=3.24358, mean_ms=2.94227,
        num_runs=337, std_ms=1.19, min_ms=2.605, max_ms=20.356, p5_ms=2.647, p50_ms=2.781,
        p95_ms=3.169, memory_init_mb=39.4531, memory_overall_mb=40.8281,
        model_size_mb=13.9193, threads=4),
    "qualcomm_rb1_mobilenet_v1_quant.txt": dict(
        init_ms=87.639, first_inference_ms=106.436, mean_ms=105.784, num_runs=50,
        p50_ms=105.718, p95_ms=106.281, memory_overall_mb=14.8164, threads=None),
    "android_logcat_fp16_4threads.txt": dict(
        init_ms=458.883, first_inference_ms=2732.148, warmup_mean_ms=2732.15, mean_ms=2719.85,
        num_runs=10, p50_ms=2709.263, max_ms=3025.403, memory_init_mb=286.73,
        memory_overall_mb=337.0, threads=4),
}


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_parse_real_benchmark_model_output(fixture):
    with open(os.path.join(FIXTURES, fixture)) as f:
        parsed = parse_benchmark_model_output(f.read())
    for key, value in EXPECTED[fixture].items():
        assert parsed[key] == (pytest.approx(value) if value is not None else None), key


def test_every_fixture_is_covered():
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(FIXTURES, "*.txt"))) == \
        sorted(EXPECTED)


def test_parse_failed_run_names_the_last_line():
    text = "INFO: STARTING!\nERROR: Could not open 'x.tflite'.\n"
    with pytest.raises(UserError, match="Could not open"):
        parse_benchmark_model_output(text)


def _fake_binary(tmp_path):
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"\x7fELF")
    return str(binary)


def test_device_mode_without_adb_is_a_clear_error(two_models, tmp_path):
    config = DeviceConfig(models=(two_models[0],), benchmark_binary=_fake_binary(tmp_path),
                          adb=str(tmp_path / "no-adb"))
    with pytest.raises(UserError, match="adb not found"):
        benchmark_device(config)


def test_device_mode_without_device_is_a_clear_error(two_models, tmp_path):
    adb = tmp_path / "adb"  # an adb that, like the real one, finds no device
    adb.write_text("#!/bin/sh\necho 'error: no devices/emulators found' >&2\nexit 1\n")
    adb.chmod(adb.stat().st_mode | stat.S_IEXEC)
    config = DeviceConfig(models=(two_models[0],), benchmark_binary=_fake_binary(tmp_path),
                          adb=str(adb))
    with pytest.raises(UserError, match="no devices/emulators found"):
        benchmark_device(config)
    result = run_main("benchmark", "--device", "--models", two_models[0],
                        "--benchmark_binary", config.benchmark_binary)
    if result.returncode != 0 and "adb not found" in result.stderr:
        assert_one_line_error(result, "adb not found")
