"""tflite_lite's benchmarks and studies: programs that measure the product, not part of it
(the wheel ships none of them). Run each from the repository's root as a module:

    python -m benchmarks.ptq --runs runs/bench_train/mobilenet_v2_035

Each prints its table and writes its record into `benchmarks/results/<name>.json`
(`benchmarks.results_file`); the records that back a published figure are committed, and
`python -m benchmarks.figures` makes the docs' figures from them.
"""
