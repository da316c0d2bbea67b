package org.tflitelite.demo.core

import kotlin.math.floor

/** The contract's integer mapping: q = clip(floor(x / scale + 0.5) + zeroPoint), in double. */
object Quantization {
    fun range(dtype: String): IntRange = when (dtype) {
        "int8" -> -128..127
        "uint8" -> 0..255
        "int16" -> -32768..32767
        else -> throw IllegalArgumentException("not an integer tensor type: $dtype")
    }

    fun quantize(values: FloatArray, scale: Double, zeroPoint: Int, dtype: String): IntArray {
        val limits = range(dtype)
        return IntArray(values.size) {
            val q = floor(values[it].toDouble() / scale + 0.5) + zeroPoint
            q.coerceIn(limits.first.toDouble(), limits.last.toDouble()).toInt()
        }
    }

    fun dequantize(values: IntArray, scale: Double, zeroPoint: Int): DoubleArray =
        DoubleArray(values.size) { (values[it] - zeroPoint) * scale }

    /** The model's input tensor for normalized `values`: integers for int8 / uint8 / int16 models. */
    fun inputTensor(values: FloatArray, spec: TensorSpec): IntArray {
        require(spec.isQuantized) { "input ${spec.name} is ${spec.dtype}, not an integer tensor" }
        return quantize(values, spec.scale!!, spec.zeroPoint!!, spec.dtype)
    }
}
