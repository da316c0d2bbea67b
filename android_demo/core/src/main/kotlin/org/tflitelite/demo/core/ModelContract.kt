package org.tflitelite.demo.core

/** One input or output tensor as the exporter's contract describes it. */
data class TensorSpec(
    val name: String,
    val shape: List<Int>,
    val dtype: String,
    val scale: Double?,
    val zeroPoint: Int?
) {
    val isQuantized: Boolean get() = dtype == "int8" || dtype == "uint8" || dtype == "int16"
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

/** The runtime part of `<model>.json` written by `scripts/export.py` (format tflite_lite.contract/1). */
data class ModelContract(
    val mode: String,
    val input: TensorSpec,
    val output: TensorSpec,
    val preprocessing: Preprocessing,
    val classNames: List<String>
) {
    companion object {
        const val FORMAT = "tflite_lite.contract/1"

        /** Parses and checks a contract; a bad one raises IllegalArgumentException naming the field. */
        fun parse(text: String): ModelContract {
            val root = Json.parse(text) as? Map<*, *>
                ?: throw IllegalArgumentException("contract: not a JSON object")
            val format = root["format"]
            require(format == FORMAT) { "contract: format is $format, expected $FORMAT" }
            val pre = field<Map<*, *>>(root, "preprocessing")
            val preprocessing = Preprocessing(
                inputShape = ints(pre, "input_shape"),
                mean = floats(pre, "mean"),
                std = floats(pre, "std"),
                resize = field(pre, "resize"))
            require(preprocessing.inputShape.size == 3 && preprocessing.channels in listOf(1, 3)) {
                "contract: preprocessing.input_shape must be [height, width, 1 or 3]"
            }
            require(preprocessing.std.all { it > 0f }) { "contract: preprocessing.std must be positive" }
            require(preprocessing.resize == "bilinear") {
                "contract: resize ${preprocessing.resize} is not supported (bilinear only)"
            }
            val contract = ModelContract(
                mode = field(root, "mode"),
                input = tensor(field(root, "input"), "input"),
                output = tensor(field(root, "output"), "output"),
                preprocessing = preprocessing,
                classNames = field<List<*>>(root, "class_names").map { it.toString() })
            require(contract.output.shape.last() == contract.classNames.size) {
                "contract: ${contract.classNames.size} class names for ${contract.output.shape.last()} outputs"
            }
            return contract
        }

        private fun tensor(map: Map<*, *>, name: String): TensorSpec {
            val spec = TensorSpec(
                name = field(map, "name"),
                shape = ints(map, "shape"),
                dtype = field(map, "dtype"),
                scale = (map["scale"] as? Double),
                zeroPoint = (map["zero_point"] as? Double)?.toInt())
            require(!spec.isQuantized || (spec.scale != null && spec.scale > 0 && spec.zeroPoint != null)) {
                "contract: $name is ${spec.dtype} but has no positive scale and zero point"
            }
            return spec
        }

        @Suppress("UNCHECKED_CAST")
        private fun <T> field(map: Map<*, *>, key: String): T =
            (map[key] ?: throw IllegalArgumentException("contract: missing field '$key'")) as? T
                ?: throw IllegalArgumentException("contract: field '$key' has the wrong type")

        private fun ints(map: Map<*, *>, key: String) = field<List<*>>(map, key).map { (it as Double).toInt() }

        private fun floats(map: Map<*, *>, key: String) = field<List<*>>(map, key).map { (it as Double).toFloat() }
    }
}
