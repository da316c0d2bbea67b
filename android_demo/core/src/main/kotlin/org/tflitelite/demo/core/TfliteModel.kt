package org.tflitelite.demo.core

import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * The first input and output tensors of a `.tflite` file, read from its flatbuffer (schema
 * `tflite/schema.fbs`: Model.subgraphs[0].tensors / inputs / outputs), so that a contract can be
 * checked against the model it sits beside before any runtime loads it.
 */
object TfliteModel {
    /** Tensor types by their schema number, as the contract names them. */
    private val TYPES = mapOf(0 to "float32", 1 to "float16", 2 to "int32", 3 to "uint8", 4 to "int64",
        7 to "int16", 9 to "int8")

    /** (input, output) of the model in `bytes`; raises IllegalArgumentException for a file that is not one. */
    fun readSpecs(bytes: ByteBuffer): Pair<TensorSpec, TensorSpec> {
        val buffer = bytes.duplicate().order(ByteOrder.LITTLE_ENDIAN)
        try {
            require(buffer.limit() >= 8 && String(ByteArray(4) { buffer.get(4 + it) }, Charsets.US_ASCII) == "TFL3") {
                "model: not a TFLite flatbuffer (no TFL3 identifier)"
            }
            val model = buffer.getInt(0)
            val subgraph = vectorElement(buffer, model, 2, 0)
            val tensors = field(buffer, subgraph, 0)
            fun spec(listField: Int): TensorSpec {
                val index = buffer.getInt(vectorElement(buffer, subgraph, listField, 0, inline = true))
                return tensor(buffer, vectorAt(buffer, tensors, index))
            }
            return Pair(spec(1), spec(2))
        } catch (e: IndexOutOfBoundsException) {
            throw IllegalArgumentException("model: corrupt TFLite flatbuffer")
        }
    }

    /** Checks that `contract` describes this model's input and output tensors. */
    fun check(contract: ModelContract, bytes: ByteBuffer) {
        val (input, output) = readSpecs(bytes)
        contract.checkModel(input.shape, input.dtype, output.shape, output.dtype)
        for ((name, actual, expected) in listOf(Triple("input", input, contract.input), Triple("output", output, contract.output))) {
            require(actual.zeroPoint == expected.zeroPoint && close(actual.scale, expected.scale)) {
                "contract: $name quantization (${expected.scale}, ${expected.zeroPoint}) differs from the model's " +
                    "(${actual.scale}, ${actual.zeroPoint})"
            }
        }
    }

    /** The SHA-256 of a model file, in hex (what golden files and bundles record). */
    fun sha256(bytes: ByteArray): String =
        java.security.MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it) }

    /** Refuses a file made for another model: `recordedSha` is the sha256 that `what` records. */
    fun requireSameModel(recordedSha: String?, bytes: ByteArray, what: String) {
        require(recordedSha != null) { "$what records no model_sha256" }
        val actual = sha256(bytes)
        require(recordedSha == actual) {
            "$what is for model sha256 ${recordedSha.take(12)}…, this model is ${actual.take(12)}…"
        }
    }

    private fun close(a: Double?, b: Double?) = (a == null && b == null) ||
        (a != null && b != null && Math.abs(a - b) <= 1e-6 * Math.abs(b))

    private fun tensor(buffer: ByteBuffer, table: Int): TensorSpec {
        val shapeAt = field(buffer, table, 0)
        val shape = if (shapeAt == 0) emptyList() else List(buffer.getInt(shapeAt)) { buffer.getInt(shapeAt + 4 + 4 * it) }
        val typeAt = fieldPosition(buffer, table, 1)
        val type = if (typeAt == 0) 0 else buffer.get(typeAt).toInt()
        val dtype = TYPES[type] ?: throw IllegalArgumentException("model: unsupported tensor type $type")
        var scale: Double? = null
        var zeroPoint: Int? = null
        val q = field(buffer, table, 4)
        if (q != 0) {
            val scales = field(buffer, q, 2)
            val zeroPoints = field(buffer, q, 3)
            if (scales != 0 && buffer.getInt(scales) > 0) scale = buffer.getFloat(scales + 4).toDouble()
            if (zeroPoints != 0 && buffer.getInt(zeroPoints) > 0) zeroPoint = buffer.getLong(zeroPoints + 4).toInt()
        }
        return TensorSpec("", shape, dtype, scale, zeroPoint)
    }

    /** The position of field `index`'s value in `table`, or 0 when the field is absent. */
    private fun fieldPosition(buffer: ByteBuffer, table: Int, index: Int): Int {
        val vtable = table - buffer.getInt(table)
        val vtableSize = buffer.getShort(vtable).toInt() and 0xFFFF
        val slot = 4 + 2 * index
        if (slot >= vtableSize) return 0
        val offset = buffer.getShort(vtable + slot).toInt() and 0xFFFF
        return if (offset == 0) 0 else table + offset
    }

    /** The position an offset field points to (a table, vector or string), or 0 when absent. */
    private fun field(buffer: ByteBuffer, table: Int, index: Int): Int {
        val at = fieldPosition(buffer, table, index)
        return if (at == 0) 0 else at + buffer.getInt(at)
    }

    /** Element `i` of a vector of tables, as the table's position. */
    private fun vectorAt(buffer: ByteBuffer, vector: Int, i: Int): Int {
        require(vector != 0 && i in 0 until buffer.getInt(vector)) { "model: tensor index $i out of range" }
        val at = vector + 4 + 4 * i
        return at + buffer.getInt(at)
    }

    /** Element `i` of the vector in field `index` of `table`: a table's position, or the element's own
     * position with `inline` (a vector of scalars). */
    private fun vectorElement(buffer: ByteBuffer, table: Int, index: Int, i: Int, inline: Boolean = false): Int {
        val vector = field(buffer, table, index)
        require(vector != 0 && buffer.getInt(vector) > i) { "model: no ${if (index == 2) "subgraph" else "tensor"} $i" }
        return if (inline) vector + 4 + 4 * i else vectorAt(buffer, vector, i)
    }
}
