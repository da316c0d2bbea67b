package org.tflitelite.demo.core

import java.io.File
import java.util.Base64
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/** The core against vectors the Python side wrote from LiteRT's interpreter (golden/). */
class GoldenVectorTest {
    private val files = File(System.getProperty("golden.dir", "golden"))
        .listFiles { f -> f.name.endsWith(".json") }.orEmpty().sortedBy { it.name }

    @Test
    fun goldenFilesExist() {
        assertTrue("no golden vectors found", files.isNotEmpty())
    }

    @Test
    fun eachGoldenFileNamesABundledModelAndRefusesAnother() {
        val models = File(System.getProperty("models.dir") ?: "../app/src/main/assets/models")
            .walk().filter { it.name.endsWith(".tflite") }.map { it.readBytes() }.toList()
        for (file in files) {
            val golden = Json.parse(file.readText()) as Map<*, *>
            val sha = golden["model_sha256"] as? String
            val bundled = models.filter { TfliteModel.sha256(it) == sha }
            assertEquals("${file.name}: its model (sha256 $sha) is not bundled", 1, bundled.size)
            TfliteModel.requireSameModel(sha, bundled[0], file.name)
            val other = bundled[0].copyOf().also { it[it.size - 1] = (it[it.size - 1] + 1).toByte() }
            try {
                TfliteModel.requireSameModel(sha, other, file.name)
                org.junit.Assert.fail("a golden file accepted another model")
            } catch (e: IllegalArgumentException) {
                assertTrue(e.message, e.message!!.contains("${file.name} is for model sha256 ${sha!!.take(12)}"))
            }
        }
    }

    @Test
    fun inputTensorIsBitExactAndTopKMatches() {
        for (file in files) {
            val golden = Json.parse(file.readText()) as Map<*, *>
            val contract = ModelContract.parse(toJson(golden["contract"]))
            val preprocessor = Preprocessor(contract.preprocessing)
            val topK = (golden["top_k"] as Double).toInt()
            for ((n, case) in (golden["cases"] as List<*>).withIndex()) {
                case as Map<*, *>
                val where = "${file.name} case $n"
                val pixels = ints(case["pixels"]).map { it.toFloat() }.toFloatArray()
                val normalized = preprocessor.normalizedInput(
                    pixels, int(case["height"]), int(case["width"]), int(case["channels"]))
                val tensor = Quantization.inputTensor(normalized, contract.input)
                assertArrayEquals(where, ints(case["input_tensor"]).toIntArray(), tensor)

                val scores = outputScores(case["raw_output"], contract.output)
                val expectedScores = (case["scores"] as List<*>).map { it as Double }
                for (i in scores.indices) assertEquals(where, expectedScores[i], scores[i], 1e-12)
                val expectedTop = (case["top_k"] as List<*>).map { int((it as Map<*, *>)["index"]) }
                val top = Classification.topK(scores, contract.classNames, topK)
                assertEquals(where, expectedTop, top.map { it.index })
                assertEquals(where, contract.classNames[expectedTop[0]], top[0].label)
            }
        }
    }

    @Test
    fun cameraFramesGiveTheSameInputTensorAndTopK() {
        var checked = 0
        for (file in files) {
            val golden = Json.parse(file.readText()) as Map<*, *>
            val contract = ModelContract.parse(toJson(golden["contract"]))
            val topK = (golden["top_k"] as Double).toInt()
            val frames = golden["camera_frames"] as? List<*> ?: emptyList<Any>()
            for ((n, frame) in frames.withIndex()) {
                frame as Map<*, *>
                val where = "${file.name} camera frame $n (rotation ${int(frame["rotation"])})"
                val rgb = Base64.getDecoder().decode(frame["rgb_base64"] as String)
                val argb = IntArray(rgb.size / 3) { i ->
                    (0xFF shl 24) or ((rgb[3 * i].toInt() and 0xFF) shl 16) or
                        ((rgb[3 * i + 1].toInt() and 0xFF) shl 8) or (rgb[3 * i + 2].toInt() and 0xFF)
                }
                val normalized = CameraFrame.modelInput(argb, int(frame["width"]), int(frame["height"]),
                    int(frame["rotation"]), contract.preprocessing)
                val tensor = Quantization.inputTensor(normalized, contract.input)
                assertArrayEquals(where, ints(frame["input_tensor"]).toIntArray(), tensor)
                val scores = outputScores(frame["raw_output"], contract.output)
                val expectedTop = (frame["top_k"] as List<*>).map { int((it as Map<*, *>)["index"]) }
                assertEquals(where, expectedTop, Classification.topK(scores, contract.classNames, topK).map { it.index })
                checked++
            }
        }
        assertTrue("no camera frames in the golden vectors", checked > 0)
    }

    @Test
    fun goldenFilesNameTheirModelBySha256() {
        for (file in files) {
            val golden = Json.parse(file.readText()) as Map<*, *>
            val sha = golden["model_sha256"] as? String
            assertTrue("${file.name}: no model_sha256", sha != null && sha.matches(Regex("[0-9a-f]{64}")))
        }
    }

    private fun int(value: Any?) = (value as Double).toInt()

    /** Probabilities from a golden raw output: integer codes, or float values (a float last layer). */
    private fun outputScores(raw: Any?, spec: TensorSpec): DoubleArray =
        if (spec.isQuantized) Classification.scores(ints(raw).toIntArray(), spec)
        else Classification.probabilities((raw as List<*>).map { it as Double }.toDoubleArray(), spec)

    private fun ints(value: Any?) = (value as List<*>).map { int(it) }

    /** Back to JSON text, so that the contract goes through the same parser as a file would. */
    private fun toJson(value: Any?): String = when (value) {
        null -> "null"
        is String -> "\"" + value.replace("\\", "\\\\").replace("\"", "\\\"") + "\""
        is Double -> if (value == Math.floor(value) && Math.abs(value) < 1e15) value.toLong().toString() else value.toString()
        is Boolean -> value.toString()
        is List<*> -> value.joinToString(",", "[", "]") { toJson(it) }
        is Map<*, *> -> value.entries.joinToString(",", "{", "}") { toJson(it.key) + ":" + toJson(it.value) }
        else -> throw IllegalArgumentException("unexpected $value")
    }
}
