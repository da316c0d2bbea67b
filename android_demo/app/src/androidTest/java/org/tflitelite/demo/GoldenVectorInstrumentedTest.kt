package org.tflitelite.demo

import android.graphics.Bitmap
import android.util.Base64
import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.tflitelite.demo.core.Accelerator
import org.tflitelite.demo.core.Json
import org.tflitelite.demo.core.TfliteModel

/**
 * On a device: the bundled model, run by LiteRT's interpreter on the CPU, must reproduce the
 * golden vectors the Python side wrote (same raw output within one step, same top-1), for the
 * raw test images and for the camera frames (through `setFrame`, the app's camera path). A
 * golden file names its model by sha256; one whose model is not bundled is refused, and a run
 * that checked nothing fails.
 */
@RunWith(AndroidJUnit4::class)
class GoldenVectorInstrumentedTest {
    @Test
    fun bundledModelMatchesGoldenVectors() {
        val context = InstrumentationRegistry.getInstrumentation().targetContext
        val testAssets = InstrumentationRegistry.getInstrumentation().context.assets
        val bySha = ModelAssets.list(context).associateBy { name ->
            val model = ModelAssets.load(context, name)
            val bytes = context.assets.open(model.tflitePath).use { it.readBytes() }
            TfliteModel.sha256(bytes)
        }
        var checked = 0
        for (file in testAssets.list("").orEmpty().filter { it.endsWith(".json") }) {
            val golden = Json.parse(testAssets.open(file).bufferedReader().use { it.readText() }) as Map<*, *>
            val name = bySha[golden["model_sha256"] as? String]
            assertTrue("$file: its model (sha256 ${golden["model_sha256"]}) is not bundled", name != null)
            ImageClassifier(context, ModelAssets.load(context, name!!), Accelerator.CPU, 1, allowFallback = false).use { classifier ->
                for (case in golden["cases"] as List<*>) {
                    case as Map<*, *>
                    val pixels = ints(case, "pixels").map { it.toFloat() }.toFloatArray()
                    classifier.setInput(pixels, int(case["height"]), int(case["width"]), int(case["channels"]))
                    check(classifier, case)
                    checked++
                }
                for (frame in golden["camera_frames"] as List<*>) {
                    frame as Map<*, *>
                    val rgb = Base64.decode(frame["rgb_base64"] as String, Base64.DEFAULT)
                    val argb = IntArray(rgb.size / 3) { i ->
                        (0xFF shl 24) or ((rgb[3 * i].toInt() and 0xFF) shl 16) or
                            ((rgb[3 * i + 1].toInt() and 0xFF) shl 8) or (rgb[3 * i + 2].toInt() and 0xFF)
                    }
                    val bitmap = Bitmap.createBitmap(argb, int(frame["width"]), int(frame["height"]), Bitmap.Config.ARGB_8888)
                    classifier.setFrame(bitmap, int(frame["rotation"]))
                    check(classifier, frame)
                    checked++
                }
            }
        }
        assertTrue("no golden vector was checked", checked > 0)
    }

    private fun check(classifier: ImageClassifier, case: Map<*, *>) {
        val (scores, _) = classifier.invoke()
        val raw = classifier.rawOutputValues()
        val expected = (case["raw_output"] as List<*>).map { it as Double }
        // one quantization step for 8-bit codes; float logits (a float last layer) to 1e-3
        val float = classifier.floatOutput
        for (i in raw.indices) {
            assertEquals(expected[i], raw[i], if (float) 1e-3 * (1 + Math.abs(expected[i])) else 1.0)
        }
        val top = (case["top_k"] as List<*>).map { int((it as Map<*, *>)["index"]) }
        assertEquals(top[0], scores.indices.maxByOrNull { scores[it] })
    }

    private fun int(value: Any?) = (value as Double).toInt()

    private fun ints(case: Map<*, *>, key: String) = (case[key] as List<*>).map { int(it) }.toIntArray()
}
