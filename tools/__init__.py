"""Developer tools for tflite_lite, not shipped: the `.tflite` loading fuzzer
(`python -m tools.fuzz_tflite`) and `python3 tools/peak_memory.py COMMAND`, which measures a
command's wall time and peak memory."""
