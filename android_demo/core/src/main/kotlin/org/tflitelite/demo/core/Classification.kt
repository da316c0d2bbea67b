package org.tflitelite.demo.core

/** One class in a result: its index in the model output, its label and its score (0-1). */
data class Recognition(val index: Int, val label: String, val score: Double)

/** What the app shows for one picture: the best classes, or "nothing recognized" (no classes). */
data class Decision(val recognitions: List<Recognition>, val nothingRecognized: Boolean)

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

    /**
     * The app's answer for one picture. "Nothing recognized" when the contract's [rejection]
     * rejects the best class (the "nothing" class, or a score under its `min_score`) or the best
     * score is under the user's [threshold]; else up to `k` classes of at least [threshold],
     * the "nothing" class left out.
     */
    fun decide(scores: DoubleArray, labels: List<String>, k: Int, threshold: Double, rejection: Rejection): Decision {
        val ranked = topK(scores, labels, scores.size)
        val best = ranked.first()
        if (rejection.rejects(best) || best.score < threshold) return Decision(emptyList(), true)
        val shown = ranked.filter { it.index != rejection.nothingClass && it.score >= threshold }.take(k)
        return Decision(shown, false)
    }

    /** Class probabilities from an integer output tensor: dequantized, then [probabilities]. */
    fun scores(raw: IntArray, spec: TensorSpec): DoubleArray =
        probabilities(Quantization.dequantize(raw, spec.scale!!, spec.zeroPoint!!), spec)

    /** Float output values as probabilities: through a softmax when [spec] says they are logits. */
    fun probabilities(values: DoubleArray, spec: TensorSpec): DoubleArray {
        if (spec.scores != TensorSpec.LOGITS) return values
        if (values.isEmpty()) return values
        val top = values.max()!!
        val exp = DoubleArray(values.size) { Math.exp(values[it] - top) }
        val sum = exp.sum()
        return DoubleArray(exp.size) { exp[it] / sum }
    }

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
