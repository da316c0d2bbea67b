package org.tflitelite.demo.core

/** Latency summary computed as the host harness does (numpy's mean and linear percentiles). */
data class LatencyStats(val meanMs: Double, val p50Ms: Double, val p90Ms: Double, val p99Ms: Double, val runs: Int) {
    companion object {
        fun of(timesMs: DoubleArray): LatencyStats {
            require(timesMs.isNotEmpty()) { "no timed runs" }
            val sorted = timesMs.sortedArray()
            return LatencyStats(timesMs.average(), percentile(sorted, 50.0), percentile(sorted, 90.0),
                percentile(sorted, 99.0), timesMs.size)
        }

        /** numpy.percentile's default ("linear") on sorted values. */
        fun percentile(sorted: DoubleArray, q: Double): Double {
            val position = q / 100.0 * (sorted.size - 1)
            val lower = Math.floor(position).toInt()
            val upper = Math.min(lower + 1, sorted.size - 1)
            return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower)
        }
    }
}
