package org.tflitelite.demo.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

class CoreTest {
    private val contractText = """
        {"format": "tflite_lite.contract/1", "mode": "int8",
         "input": {"name": "images", "shape": [1, 32, 32, 1], "dtype": "int8",
                   "scale": 0.007843137718737125, "zero_point": 0},
         "output": {"name": "scores", "shape": [1, 3], "dtype": "int8", "scale": 0.00390625,
                    "zero_point": -128, "activation": "softmax"},
         "preprocessing": {"input_shape": [32, 32, 1], "mean": [127.5], "std": [127.5],
                           "resize": "bilinear", "pixel_range": [0, 255]},
         "class_names": ["a \"quoted\" name", "b\u00e9", "c"]}
    """

    private fun expectError(fragment: String, block: () -> Unit) {
        try {
            block()
            fail("expected an error containing '$fragment'")
        } catch (e: IllegalArgumentException) {
            assertTrue(e.message, e.message!!.contains(fragment))
        }
    }

    @Test
    fun parsesTheContract() {
        val contract = ModelContract.parse(contractText)
        assertEquals(listOf(1, 32, 32, 1), contract.input.shape)
        assertEquals(-128, contract.output.zeroPoint)
        assertEquals("a \"quoted\" name", contract.classNames[0])
        assertEquals("bé", contract.classNames[1])
        assertEquals(32, contract.preprocessing.width)
    }

    @Test
    fun rejectsBadContracts() {
        expectError("format") { ModelContract.parse(contractText.replace("contract/1", "contract/9")) }
        expectError("missing field 'class_names'") {
            ModelContract.parse(contractText.replace("\"class_names\"", "\"names\""))
        }
        expectError("3 class names for 4 outputs") {
            ModelContract.parse(contractText.replace("[1, 3]", "[1, 4]"))
        }
        expectError("invalid JSON") { ModelContract.parse("{\"format\": ") }
        expectError("not a JSON object") { ModelContract.parse("[1, 2]") }
    }

    @Test
    fun rejectsContractsThatDoNotAddUp() {
        expectError("preprocessing.mean has 2 values for 1 channel(s)") {
            ModelContract.parse(contractText.replace("\"mean\": [127.5]", "\"mean\": [127.5, 1.0]"))
        }
        expectError("preprocessing.std has 3 values for 1 channel(s)") {
            ModelContract.parse(contractText.replace("\"std\": [127.5]", "\"std\": [1.0, 2.0, 3.0]"))
        }
        expectError("input shape [1, 28, 28, 1] differs from preprocessing.input_shape [32, 32, 1]") {
            ModelContract.parse(contractText.replace("[1, 32, 32, 1]", "[1, 28, 28, 1]"))
        }
    }

    @Test
    fun namesWrongTypedFields() {
        expectError("field 'mode' must be a string") {
            ModelContract.parse(contractText.replace("\"mode\": \"int8\"", "\"mode\": 8"))
        }
        expectError("field 'shape' must be a list") {
            ModelContract.parse(contractText.replace("\"shape\": [1, 3]", "\"shape\": \"1x3\""))
        }
        expectError("field 'input_shape' must be a whole number") {
            ModelContract.parse(contractText.replace("\"input_shape\": [32, 32, 1]", "\"input_shape\": [32.5, 32, 1]"))
        }
        expectError("field 'mean' must be a list of numbers") {
            ModelContract.parse(contractText.replace("\"mean\": [127.5]", "\"mean\": [\"127.5\"]"))
        }
        expectError("field 'scale' must be a number") {
            ModelContract.parse(contractText.replace("\"scale\": 0.00390625", "\"scale\": \"small\""))
        }
        expectError("field 'preprocessing' must be an object") {
            ModelContract.parse(contractText.replace(Regex("\"preprocessing\": \\{[^}]*\\}"), "\"preprocessing\": []"))
        }
        expectError("class_names must be strings") {
            ModelContract.parse(contractText.replace("\"c\"]", "3]"))
        }
    }

    @Test
    fun readsTheRejectionRule() {
        assertEquals(Rejection.NONE, ModelContract.parse(contractText).rejection)
        val withRule = contractText.replace("\"class_names\"",
            "\"rejection\": {\"nothing_class\": 2, \"min_score\": 0.4}, \"class_names\"")
        assertEquals(Rejection(2, 0.4), ModelContract.parse(withRule).rejection)
        val noClass = withRule.replace("\"nothing_class\": 2", "\"nothing_class\": null")
        assertEquals(Rejection(null, 0.4), ModelContract.parse(noClass).rejection)
        expectError("rejection.nothing_class 3 is not a class index") {
            ModelContract.parse(withRule.replace("\"nothing_class\": 2", "\"nothing_class\": 3"))
        }
        expectError("rejection.min_score must be in [0, 1)") {
            ModelContract.parse(withRule.replace("0.4}", "1.5}"))
        }
        expectError("field 'rejection' must be an object") {
            ModelContract.parse(contractText.replace("\"class_names\"", "\"rejection\": true, \"class_names\""))
        }
    }

    @Test
    fun decidesNothingRecognizedByTheContractsRule() {
        val labels = listOf("shirt", "bag", "nothing")
        val rule = Rejection(2, 0.5)
        val nothingBest = Classification.decide(doubleArrayOf(0.2, 0.1, 0.7), labels, 3, 0.0, rule)
        assertTrue(nothingBest.nothingRecognized)
        assertTrue(nothingBest.recognitions.isEmpty())
        assertTrue(Classification.decide(doubleArrayOf(0.45, 0.3, 0.25), labels, 3, 0.0, rule).nothingRecognized)
        val shirt = Classification.decide(doubleArrayOf(0.6, 0.1, 0.3), labels, 3, 0.05, rule)
        assertEquals(false, shirt.nothingRecognized)
        assertEquals(listOf("shirt", "bag"), shirt.recognitions.map { it.label })  // never "nothing"
        // The user's threshold rejects too, with or without a rule.
        assertTrue(Classification.decide(doubleArrayOf(0.6, 0.1, 0.3), labels, 3, 0.7, Rejection.NONE).nothingRecognized)
        assertEquals(listOf("shirt"), Classification.decide(doubleArrayOf(0.6, 0.1, 0.3), labels, 1, 0.0,
            Rejection.NONE).recognitions.map { it.label })
    }

    @Test
    fun checksAContractAgainstItsModelFile() {
        val folder = java.io.File(System.getProperty("models.dir") ?: "../app/src/main/assets/models")
        val bundles = folder.listFiles().orEmpty().filter { it.isDirectory }
        assertTrue("no bundled model under $folder", bundles.isNotEmpty())
        for (bundle in bundles) {
            val tflite = bundle.listFiles().orEmpty().single { it.name.endsWith(".tflite") }
            val contract = ModelContract.parse(java.io.File(tflite.path.removeSuffix(".tflite") + ".json").readText())
            val bytes = java.nio.ByteBuffer.wrap(tflite.readBytes())
            val (input, output) = TfliteModel.readSpecs(bytes)
            assertEquals(contract.input.shape, input.shape)
            assertEquals(contract.output.shape, output.shape)
            assertEquals(contract.input.dtype, input.dtype)
            TfliteModel.check(contract, bytes)
            // The same contract for a model with another input, or other quantization: refused.
            val other = contract.copy(input = contract.input.copy(shape = listOf(1, 28, 28, 1)))
            expectError("contract: input shape [1, 28, 28, 1] but the model takes ${input.shape}") {
                TfliteModel.check(other, bytes)
            }
            val shifted = contract.copy(input = contract.input.copy(zeroPoint = contract.input.zeroPoint!! + 1))
            expectError("contract: input quantization") { TfliteModel.check(shifted, bytes) }
            val retyped = contract.copy(output = contract.output.copy(dtype = if (output.dtype == "int8") "float32" else "int8"))
            expectError("out but the model is") { TfliteModel.check(retyped, bytes) }
            expectError("not a TFLite flatbuffer") { TfliteModel.readSpecs(java.nio.ByteBuffer.wrap(ByteArray(64))) }
            val cut = java.nio.ByteBuffer.wrap(tflite.readBytes().copyOf(200))
            expectError("corrupt TFLite flatbuffer") { TfliteModel.readSpecs(cut) }
        }
    }

    @Test
    fun quantizesAsTheContractSays() {
        val values = floatArrayOf(0f, 0.5f, -0.5f, 1.5f, 1000f, -1000f)
        assertArrayEquals(intArrayOf(0, 1, 0, 2, 127, -128), Quantization.quantize(values, 1.0, 0, "int8"))
        assertArrayEquals(intArrayOf(128, 129, 128, 130, 255, 0), Quantization.quantize(values, 1.0, 128, "uint8"))
        val back = Quantization.dequantize(intArrayOf(-128, 127), 0.00390625, -128)
        assertEquals(0.0, back[0], 0.0)
        assertEquals(255 * 0.00390625, back[1], 1e-15)
    }

    @Test
    fun logitsOutputsGoThroughASoftmaxAndProbabilitiesStayAsTheyAre() {
        val logits = ModelContract.parse(contractText.replace("\"activation\": \"softmax\"",
            "\"activation\": \"softmax\", \"scores\": \"logits\"")).output
        assertEquals(TensorSpec.LOGITS, logits.scores)
        // codes 10, 0, -10 at scale 0.1 are logits 1, 0, -1 (zero point 0)
        val spec = logits.copy(scale = 0.1, zeroPoint = 0)
        val p = Classification.scores(intArrayOf(10, 0, -10), spec)
        val e = doubleArrayOf(Math.E, 1.0, 1 / Math.E)
        for (i in p.indices) assertEquals(e[i] / e.sum(), p[i], 1e-12)
        val probabilities = ModelContract.parse(contractText).output
        assertEquals(TensorSpec.PROBABILITIES, probabilities.scores)
        assertArrayEquals(doubleArrayOf(0.5, 0.25, 0.0),
            Classification.scores(intArrayOf(0, -64, -128), probabilities), 0.0)
        expectError("output.scores must be 'probabilities' or 'logits', not 'odds'") {
            ModelContract.parse(contractText.replace("\"activation\": \"softmax\"",
                "\"activation\": \"softmax\", \"scores\": \"odds\""))
        }
    }

    @Test
    fun topKOrdersByScoreThenIndexAndApplies() {
        val labels = listOf("a", "b", "c", "d")
        val scores = doubleArrayOf(0.2, 0.4, 0.4, 0.05)
        assertEquals(listOf(1, 2, 0), Classification.topK(scores, labels, 3).map { it.index })
        assertEquals(listOf(1, 2), Classification.topK(scores, labels, 4, threshold = 0.3).map { it.index })
        expectError("k must be at least 1") { Classification.topK(scores, labels, 0) }
    }

    @Test
    fun parsesLabels() {
        assertEquals(listOf("a", "b"), Classification.parseLabels("a\r\nb\n\n", expected = 2))
        expectError("3 names") { Classification.parseLabels("a\nb\nc\n", expected = 2) }
    }

    @Test
    fun resizeKeepsConstantImagesAndInterpolates() {
        val flat = FloatArray(28 * 28) { 200f }
        val resized = Preprocessor.resizeBilinear(flat, 28, 28, 1, 32, 32)
        assertTrue(resized.all { it == 200f })
        val ramp = floatArrayOf(0f, 100f)
        assertArrayEquals(floatArrayOf(0f, 25f, 75f, 100f), Preprocessor.resizeBilinear(ramp, 1, 2, 1, 1, 4), 0f)
        val rgb = Preprocessor.convertChannels(floatArrayOf(10f), 1, 1, 3)
        assertArrayEquals(floatArrayOf(10f, 10f, 10f), rgb, 0f)
    }

    private val gray32 = Preprocessing(listOf(2, 2, 1), listOf(0f), listOf(1f), "bilinear")

    @Test
    fun cameraFrameAveragesEveryPixelOfItsArea() {
        // A 4x4 frame onto 2x2: each output is the mean of its 2x2 block (gray = RGB equal).
        val values = intArrayOf(0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150)
        val argb = IntArray(16) { (0xFF shl 24) or (values[it] * 0x010101) }
        val out = CameraFrame.modelInput(argb, 4, 4, 0, gray32)
        val expected = floatArrayOf(25f, 45f, 105f, 125f).map { it * 0.2989f + it * 0.5870f + it * 0.1140f }
        assertArrayEquals(expected.toFloatArray(), out, 0f)
    }

    @Test
    fun cameraFrameTurnsUprightBeforeCropping() {
        // A 2x1 sensor frame (left red, right blue), rotated 90 degrees clockwise: upright it is
        // 1 wide and 2 high, red on top; a 1x1 RGB model sees the centred 1x1 crop of it... which
        // is the top pixel after flooring the offset, so red.
        val argb = intArrayOf(0xFFFF0000.toInt(), 0xFF0000FF.toInt())
        val rgb11 = Preprocessing(listOf(1, 1, 3), listOf(0f), listOf(1f), "bilinear")
        assertArrayEquals(floatArrayOf(255f, 0f, 0f), CameraFrame.modelInput(argb, 2, 1, 90, rgb11), 0f)
        assertArrayEquals(floatArrayOf(0f, 0f, 255f), CameraFrame.modelInput(argb, 2, 1, 270, rgb11), 0f)
        // Rotation 0: the 2x1 frame cropped to 1x1 keeps the left (red) pixel.
        assertArrayEquals(floatArrayOf(255f, 0f, 0f), CameraFrame.modelInput(argb, 2, 1, 0, rgb11), 0f)
        assertArrayEquals(floatArrayOf(0f, 0f, 255f), CameraFrame.modelInput(argb, 2, 1, 180, rgb11), 0f)
        expectError("multiple of 90") { CameraFrame.modelInput(argb, 2, 1, 45, rgb11) }
        expectError("expected 3 x 1") { CameraFrame.modelInput(argb, 3, 1, 0, rgb11) }
    }

    @Test
    fun cameraFrameUsesTensorFlowGrayWeights() {
        val argb = intArrayOf(0xFF0000FF.toInt())  // pure blue
        val gray11 = Preprocessing(listOf(1, 1, 1), listOf(0f), listOf(1f), "bilinear")
        assertEquals(255f * 0.1140f, CameraFrame.modelInput(argb, 1, 1, 0, gray11)[0], 0f)
    }

    @Test
    fun centerCropKeepsTheModelAspect() {
        assertEquals(CameraFrame.Crop(80, 0, 480, 480), CameraFrame.centerCrop(640, 480, 32, 32))
        assertEquals(CameraFrame.Crop(0, 80, 480, 480), CameraFrame.centerCrop(480, 640, 32, 32))
        assertEquals(CameraFrame.Crop(0, 60, 640, 360), CameraFrame.centerCrop(640, 480, 64, 36))
    }

    @Test
    fun areaWeightsCoverEverySourcePixelOnce() {
        val axis = CameraFrame.areaWeights(7, 3)
        assertArrayEquals(intArrayOf(0, 2, 4), axis.start)
        assertArrayEquals(intArrayOf(3, 3, 1), axis.weights[0])
        assertArrayEquals(intArrayOf(2, 3, 2), axis.weights[1])
        assertArrayEquals(intArrayOf(1, 3, 3), axis.weights[2])
        val covered = IntArray(720)
        val big = CameraFrame.areaWeights(720, 32)
        for (i in 0 until 32) for (k in big.weights[i].indices) covered[big.start[i] + k] += big.weights[i][k]
        assertTrue(covered.all { it == 32 })
    }

    @Test
    fun previewShowsTheModelInputAsPixels() {
        val spec = Preprocessing(listOf(1, 2, 1), listOf(127.5f), listOf(127.5f), "bilinear")
        val argb = intArrayOf(0xFF000000.toInt(), 0xFFFFFFFF.toInt())
        val normalized = CameraFrame.modelInput(argb, 2, 1, 0, spec)
        val preview = CameraFrame.previewPixels(normalized, spec)
        assertEquals(0xFF000000.toInt(), preview[0])
        assertEquals(0xFFFFFFFF.toInt() and 0xFFFEFEFE.toInt(), preview[1] and 0xFFFEFEFE.toInt())
    }

    @Test
    fun galleryPicturesDecodeDownsampledButNotTooSmall() {
        val spec = Preprocessing(listOf(32, 32, 1), listOf(0f), listOf(1f), "bilinear")
        assertEquals(8, CameraFrame.decodeSampleSize(4000, 3000, spec))  // 12 MP → 500x375
        assertEquals(1, CameraFrame.decodeSampleSize(300, 200, spec))
        assertEquals(1, CameraFrame.decodeSampleSize(28, 28, spec))
        // BitmapFactory reports -1 x -1 for bytes that are not an image.
        expectError("the image cannot be decoded") { CameraFrame.decodeSampleSize(-1, -1, spec) }
    }

    @Test
    fun latencyStatsMatchNumpy() {
        // numpy: np.percentile([5, 1, 4, 2, 3, 10], [50, 90, 99]) == [3.5, 7.5, 9.75]
        val stats = LatencyStats.of(doubleArrayOf(5.0, 1.0, 4.0, 2.0, 3.0, 10.0))
        assertEquals(25.0 / 6, stats.meanMs, 1e-12)
        assertEquals(3.5, stats.p50Ms, 1e-12)
        assertEquals(7.5, stats.p90Ms, 1e-12)
        assertEquals(9.75, stats.p99Ms, 1e-12)
    }
}
