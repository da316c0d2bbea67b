package org.tflitelite.demo.core

/** One class in a result: its index in the model output, its label and its score (0-1). */
data class Recognition(val index: Int, val label: String, val score: Double)

object Classification {
    /**
     * The `k` best classes with a score of at least `threshold`, best first; equal scores keep
     * the lower class index first (as numpy's argmax does).
     */
    fun topK(scores: DoubleArray, labels: List<String>, k: Int, threshold: Double = 0.0): List<Recognition> {
        require(k >= 1) { "k must be at least 1, got $k" }
        require(labels.size == scores.size) { "${labels.size} labels for ${scores.size} scores" }
        return scores.indices
            .sortedWith(compareByDescending<Int> { scores[it] }.thenBy { it })
            .filter { scores[it] >= threshold }
            .take(k)
            .map { Recognition(it, labels[it], scores[it]) }
    }

    /** Scores from a raw output tensor: dequantized for integer models, as is for float ones. */
    fun scores(raw: IntArray, spec: TensorSpec): DoubleArray =
        Quantization.dequantize(raw, spec.scale!!, spec.zeroPoint!!)

    /** `labels.txt`: one class name per line, trailing blank lines ignored. */
    fun parseLabels(text: String, expected: Int? = null): List<String> {
        val labels = text.split('\n').map { it.trimEnd('\r') }.dropLastWhile { it.isBlank() }
        require(labels.none { it.isBlank() }) { "labels: blank line among the class names" }
        require(expected == null || labels.size == expected) {
            "labels: ${labels.size} names, the model has $expected classes"
        }
        return labels
    }
}
