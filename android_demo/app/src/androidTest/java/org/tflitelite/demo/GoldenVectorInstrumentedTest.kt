package org.tflitelite.demo

import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import org.junit.Assert.assertEquals
import org.junit.Test
import org.junit.runner.RunWith
import org.tflitelite.demo.core.Json

/**
 * On a device: the bundled model, run by LiteRT's interpreter on the CPU, must reproduce the
 * golden vectors the Python side wrote (same input tensor, raw output within one step, same top-1).
 */
@RunWith(AndroidJUnit4::class)
class GoldenVectorInstrumentedTest {
    @Test
    fun bundledModelMatchesGoldenVectors() {
        val context = InstrumentationRegistry.getInstrumentation().targetContext
        val testAssets = InstrumentationRegistry.getInstrumentation().context.assets
        for (file in testAssets.list("").orEmpty().filter { it.endsWith(".json") }) {
            val golden = Json.parse(testAssets.open(file).bufferedReader().use { it.readText() }) as Map<*, *>
            val modelFile = golden["model"] as String
            val name = ModelAssets.list(context).firstOrNull { n ->
                context.assets.list("models/$n").orEmpty().contains(modelFile)
            } ?: continue  // golden vectors of a model that is not bundled
            ImageClassifier(context, ModelAssets.load(context, name), Accelerator.CPU, 1).use { classifier ->
                for (case in golden["cases"] as List<*>) {
                    case as Map<*, *>
                    val ints = { key: String -> (case[key] as List<*>).map { (it as Double).toInt() }.toIntArray() }
                    val pixels = ints("pixels").map { it.toFloat() }.toFloatArray()
                    classifier.setInput(pixels, (case["height"] as Double).toInt(),
                        (case["width"] as Double).toInt(), (case["channels"] as Double).toInt())
                    val (scores, _) = classifier.invoke()
                    val raw = classifier.rawOutput()
                    val expected = ints("raw_output")
                    for (i in raw.indices) assertEquals(expected[i].toDouble(), raw[i].toDouble(), 1.0)
                    val top = (case["top_k"] as List<*>).map { ((it as Map<*, *>)["index"] as Double).toInt() }
                    assertEquals(top[0], scores.indices.maxByOrNull { scores[it] })
                }
            }
        }
    }
}
