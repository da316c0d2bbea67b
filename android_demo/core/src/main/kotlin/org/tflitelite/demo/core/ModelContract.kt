package org.tflitelite.demo.core

/** One input or output tensor as the exporter's contract describes it. */
data class TensorSpec(
    val name: String,
    val shape: List<Int>,
    val dtype: String,
    val scale: Double?,
    val zeroPoint: Int?,
    /** An output's values: "probabilities", or "logits" that the app puts through a softmax. */
    val scores: String = PROBABILITIES
) {
    val isQuantized: Boolean get() = dtype == "int8" || dtype == "uint8" || dtype == "int16"

    companion object {
        const val PROBABILITIES = "probabilities"
        const val LOGITS = "logits"
    }
}

/** How 0-255 pixels become model input: resize to `inputShape`, then (pixel - mean) / std. */
data class Preprocessing(
    val inputShape: List<Int>,
    val mean: List<Float>,
    val std: List<Float>,
    val resize: String
) {
    val height: Int get() = inputShape[0]
    val width: Int get() = inputShape[1]
    val channels: Int get() = inputShape[2]

    /** The mean and std of `channel` (one value may serve every channel). */
    fun meanOf(channel: Int): Float = mean[if (mean.size == 1) 0 else channel]
    fun stdOf(channel: Int): Float = std[if (std.size == 1) 0 else channel]
}

/**
 * When a result means "nothing recognized" (the contract's `rejection` field): the best class is
 * [nothingClass] (a class trained on frames without an object), or its score is below [minScore].
 */
data class Rejection(val nothingClass: Int?, val minScore: Double) {
    fun rejects(best: Recognition?): Boolean =
        best == null || best.index == nothingClass || best.score < minScore

    companion object {
        /** What a contract without the field means: every best class is shown. */
        val NONE = Rejection(null, 0.0)
    }
}

/** The runtime part of `<model>.json` written by `scripts/export.py` (format tflite_lite.contract/1). */
data class ModelContract(
    val mode: String,
    val input: TensorSpec,
    val output: TensorSpec,
    val preprocessing: Preprocessing,
    val classNames: List<String>,
    val rejection: Rejection = Rejection.NONE
) {
    /**
     * Checks the contract against the model the runtime loaded: its input and output shapes
     * and dtypes. A mismatch (a contract for another model) raises IllegalArgumentException.
     */
    fun checkModel(inputShape: List<Int>, inputDtype: String, outputShape: List<Int>, outputDtype: String) {
        require(inputShape == input.shape) {
            "contract: input shape ${input.shape} but the model takes $inputShape"
        }
        require(outputShape == output.shape) {
            "contract: output shape ${output.shape} but the model gives $outputShape"
        }
        require(inputDtype == input.dtype && outputDtype == output.dtype) {
            "contract: ${input.dtype} in / ${output.dtype} out but the model is $inputDtype in / $outputDtype out"
        }
    }

    companion object {
        const val FORMAT = "tflite_lite.contract/1"

        /** Parses and checks a contract; a bad one raises IllegalArgumentException naming the field. */
        fun parse(text: String): ModelContract {
            val root = Json.parse(text) as? Map<*, *>
                ?: throw IllegalArgumentException("contract: not a JSON object")
            val format = root["format"]
            require(format == FORMAT) { "contract: format is $format, expected $FORMAT" }
            val pre = objectField(root, "preprocessing")
            val preprocessing = Preprocessing(
                inputShape = ints(pre, "input_shape"),
                mean = numbers(pre, "mean").map { it.toFloat() },
                std = numbers(pre, "std").map { it.toFloat() },
                resize = string(pre, "resize"))
            require(preprocessing.inputShape.size == 3 && preprocessing.channels in listOf(1, 3) &&
                preprocessing.height > 0 && preprocessing.width > 0) {
                "contract: preprocessing.input_shape must be [height, width, 1 or 3]"
            }
            for ((key, values) in listOf("mean" to preprocessing.mean, "std" to preprocessing.std)) {
                require(values.size == 1 || values.size == preprocessing.channels) {
                    "contract: preprocessing.$key has ${values.size} values for ${preprocessing.channels} channel(s)"
                }
            }
            require(preprocessing.std.all { it > 0f }) { "contract: preprocessing.std must be positive" }
            require(preprocessing.resize == "bilinear") {
                "contract: resize ${preprocessing.resize} is not supported (bilinear only)"
            }
            val contract = ModelContract(
                mode = string(root, "mode"),
                input = tensor(objectField(root, "input"), "input"),
                output = tensor(objectField(root, "output"), "output"),
                preprocessing = preprocessing,
                classNames = list(root, "class_names").map {
                    it as? String ?: throw IllegalArgumentException("contract: class_names must be strings")
                },
                rejection = rejection(root))
            require(contract.input.shape == listOf(1) + preprocessing.inputShape) {
                "contract: input shape ${contract.input.shape} differs from preprocessing.input_shape " +
                    "${preprocessing.inputShape}"
            }
            require(contract.output.shape.size == 2 && contract.output.shape.last() == contract.classNames.size) {
                "contract: ${contract.classNames.size} class names for ${contract.output.shape.last()} outputs"
            }
            val nothing = contract.rejection.nothingClass
            require(nothing == null || nothing in contract.classNames.indices) {
                "contract: rejection.nothing_class $nothing is not a class index"
            }
            return contract
        }

        private fun rejection(root: Map<*, *>): Rejection {
            if (root["rejection"] == null) return Rejection.NONE
            val map = objectField(root, "rejection")
            val nothing = map["nothing_class"]?.let { whole(it, "rejection.nothing_class") }
            val minScore = number(map, "min_score")
            require(minScore >= 0.0 && minScore < 1.0) { "contract: rejection.min_score must be in [0, 1)" }
            return Rejection(nothing, minScore)
        }

        private fun tensor(map: Map<*, *>, name: String): TensorSpec {
            val spec = TensorSpec(
                name = string(map, "name"),
                shape = ints(map, "shape"),
                dtype = string(map, "dtype"),
                scale = map["scale"]?.let { number(map, "scale") },
                zeroPoint = map["zero_point"]?.let { whole(it, "$name.zero_point") },
                scores = map["scores"]?.let { string(map, "scores") } ?: TensorSpec.PROBABILITIES)
            require(spec.scores == TensorSpec.PROBABILITIES || spec.scores == TensorSpec.LOGITS) {
                "contract: $name.scores must be 'probabilities' or 'logits', not '${spec.scores}'"
            }
            require(!spec.isQuantized || (spec.scale != null && spec.scale > 0 && spec.zeroPoint != null)) {
                "contract: $name is ${spec.dtype} but has no positive scale and zero point"
            }
            return spec
        }

        private fun present(map: Map<*, *>, key: String): Any =
            map[key] ?: throw IllegalArgumentException("contract: missing field '$key'")

        private fun wrongType(key: String, expected: String): Nothing =
            throw IllegalArgumentException("contract: field '$key' must be $expected")

        private fun string(map: Map<*, *>, key: String): String =
            present(map, key) as? String ?: wrongType(key, "a string")

        private fun objectField(map: Map<*, *>, key: String): Map<*, *> =
            present(map, key) as? Map<*, *> ?: wrongType(key, "an object")

        private fun list(map: Map<*, *>, key: String): List<*> =
            present(map, key) as? List<*> ?: wrongType(key, "a list")

        private fun number(map: Map<*, *>, key: String): Double =
            present(map, key) as? Double ?: wrongType(key, "a number")

        private fun numbers(map: Map<*, *>, key: String): List<Double> =
            list(map, key).map { it as? Double ?: wrongType(key, "a list of numbers") }

        private fun whole(value: Any, key: String): Int {
            val number = value as? Double
            if (number == null || number != Math.floor(number) || Math.abs(number) > Int.MAX_VALUE) {
                wrongType(key, "a whole number")
            }
            return number.toInt()
        }

        private fun ints(map: Map<*, *>, key: String): List<Int> =
            list(map, key).map { whole(it ?: wrongType(key, "a list of whole numbers"), key) }
    }
}
