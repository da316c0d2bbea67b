package org.tflitelite.demo

import android.content.Context
import android.graphics.Bitmap
import android.os.SystemClock
import com.google.ai.edge.litert.Accelerator as RuntimeAccelerator
import com.google.ai.edge.litert.CompiledModel
import com.google.ai.edge.litert.Environment
import com.google.ai.edge.litert.TensorBuffer
import java.io.Closeable
import java.nio.ByteBuffer
import org.tflitelite.demo.core.Accelerator
import org.tflitelite.demo.core.AcceleratorChoice
import org.tflitelite.demo.core.CameraFrame
import org.tflitelite.demo.core.Classification
import org.tflitelite.demo.core.Decision
import org.tflitelite.demo.core.Preprocessor
import org.tflitelite.demo.core.Quantization
import org.tflitelite.demo.core.TfliteModel

/** The answer, the time to make the model input and to run the model, and that input as a picture. */
class Result(
    val decision: Decision,
    val preprocessMs: Double,
    val inferenceMs: Double,
    val modelInput: Bitmap
)

/**
 * LiteRT 2's CompiledModel on a bundled model. The contract is checked against the model file's
 * own input and output tensors (`TfliteModel`) before the runtime sees it; int8, uint8 and float
 * models work. The model is compiled for exactly one accelerator (`AcceleratorChoice`): with
 * `allowFallback` a GPU that cannot run it is followed by an explicit CPU compile, and
 * `acceleratorLabel` says so; without it the failure is thrown.
 */
class ImageClassifier(
    context: Context,
    val model: ModelAssets,
    accelerator: Accelerator,
    val threads: Int,
    allowFallback: Boolean
) : Closeable {
    private val contract = model.contract
    private val preprocessor = Preprocessor(contract.preprocessing)
    private val environment = Environment.create()
    private val compiled: CompiledModel
    private val inputs: List<TensorBuffer>
    private val outputs: List<TensorBuffer>
    /** The accelerator the model really runs on, and why when it is not the one asked for. */
    val acceleratorUsed: Accelerator
    val acceleratorLabel: String
    val initMs: Double

    init {
        val created = mutableListOf<TensorBuffer>()
        var compiledModel: CompiledModel? = null
        try {  // native memory: on any failure free what exists, then report
            TfliteModel.check(contract, ByteBuffer.wrap(context.assets.open(model.tflitePath).use { it.readBytes() }))
            val start = SystemClock.elapsedRealtimeNanos()
            val choice = AcceleratorChoice.compile(accelerator, availableAccelerators(), allowFallback) {
                CompiledModel.create(context.assets, model.tflitePath, options(it, threads), environment)
            }
            compiledModel = choice.model
            compiled = choice.model
            acceleratorUsed = choice.used
            acceleratorLabel = choice.label
            inputs = compiled.createInputBuffers().also { created += it }
            outputs = compiled.createOutputBuffers().also { created += it }
            require(inputs.size == 1 && outputs.size == 1) {
                "the model has ${inputs.size} inputs and ${outputs.size} outputs; the demo runs one of each"
            }
            initMs = (SystemClock.elapsedRealtimeNanos() - start) / 1e6
        } catch (e: Exception) {
            created.forEach { it.close() }
            compiledModel?.close()
            environment.close()
            throw e
        }
    }

    /** What the runtime lists, or null when it cannot tell: it only names why a compile failed. */
    private fun availableAccelerators(): Set<Accelerator>? = try {
        environment.getAvailableAccelerators().mapNotNull {
            when (it) {
                RuntimeAccelerator.CPU -> Accelerator.CPU
                RuntimeAccelerator.GPU -> Accelerator.GPU
                else -> null
            }
        }.toSet()
    } catch (e: Exception) {
        null
    }

    /**
     * One accelerator per compile, never the set (GPU, CPU): LiteRT runs that on the CPU when the
     * GPU accelerator cannot load, and nothing but Logcat says so. The GPU computes in float: an
     * int8 model runs there as a float view of itself (weights dequantized once, the int8 input
     * and output converted on the CPU), so the same file and buffers serve both.
     */
    private fun options(accelerator: Accelerator, threads: Int): CompiledModel.Options = when (accelerator) {
        Accelerator.GPU -> CompiledModel.Options(RuntimeAccelerator.GPU)
        Accelerator.CPU -> CompiledModel.Options(RuntimeAccelerator.CPU).apply {
            cpuOptions = CompiledModel.CpuOptions(numThreads = threads)
        }
    }

    /** Fills the input from 0-255 pixels (height x width x channels). */
    fun setInput(pixels: FloatArray, height: Int, width: Int, channels: Int) {
        write(preprocessor.normalizedInput(pixels, height, width, channels))
    }

    /**
     * Fills the input from a camera frame or a picture, as the sensor or the file gave it: the
     * core turns it upright by `rotationDegrees`, centre-crops it to the model's aspect and
     * area-averages it down (`CameraFrame`, tested against the Python side bit for bit).
     */
    fun setFrame(bitmap: Bitmap, rotationDegrees: Int): FloatArray {
        val argb = IntArray(bitmap.width * bitmap.height)
        bitmap.getPixels(argb, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        val normalized = CameraFrame.modelInput(argb, bitmap.width, bitmap.height, rotationDegrees,
            contract.preprocessing)
        write(normalized)
        return normalized
    }

    private fun write(normalized: FloatArray) {
        when (contract.input.dtype) {
            "float32" -> inputs[0].writeFloat(normalized)
            // TensorBuffer has one 8-bit writer: a uint8 value goes in as its low byte.
            "int8", "uint8" -> inputs[0].writeInt8(Quantization.inputTensor(normalized, contract.input)
                .let { q -> ByteArray(q.size) { q[it].toByte() } })
            else -> throw IllegalArgumentException("input type ${contract.input.dtype} is not supported by the demo")
        }
    }

    /** Runs the model once on the current input; returns the class scores and the time. */
    fun invoke(): Pair<DoubleArray, Double> {
        val start = SystemClock.elapsedRealtimeNanos()
        compiled.run(inputs, outputs)
        val ms = (SystemClock.elapsedRealtimeNanos() - start) / 1e6
        val scores = when (contract.output.dtype) {
            "float32" -> outputs[0].readFloat().let { f ->
                Classification.probabilities(DoubleArray(f.size) { f[it].toDouble() }, contract.output)
            }
            else -> Classification.scores(rawOutput(), contract.output)
        }
        return Pair(scores, ms)
    }

    /** Whether the model outputs float32 values (float logits from a float last layer). */
    val floatOutput: Boolean get() = contract.output.dtype == "float32"

    /** The raw output of the last run as the golden vectors record it: 8-bit codes, or float values. */
    fun rawOutputValues(): DoubleArray = when (contract.output.dtype) {
        "float32" -> outputs[0].readFloat().let { f -> DoubleArray(f.size) { f[it].toDouble() } }
        else -> rawOutput().let { q -> DoubleArray(q.size) { q[it].toDouble() } }
    }

    /** The 8-bit output of the last run, as ints (what the golden vectors record). */
    fun rawOutput(): IntArray {
        val unsigned = when (contract.output.dtype) {
            "int8" -> false
            "uint8" -> true
            else -> throw IllegalArgumentException("raw output is read from 8-bit models only")
        }
        val bytes = outputs[0].readInt8()
        return IntArray(bytes.size) { if (unsigned) bytes[it].toInt() and 0xFF else bytes[it].toInt() }
    }

    fun classify(bitmap: Bitmap, rotationDegrees: Int, maxResults: Int, threshold: Double): Result {
        val start = SystemClock.elapsedRealtimeNanos()
        val normalized = setFrame(bitmap, rotationDegrees)
        val preprocessMs = (SystemClock.elapsedRealtimeNanos() - start) / 1e6
        val (scores, ms) = invoke()
        val spec = contract.preprocessing
        val preview = Bitmap.createBitmap(CameraFrame.previewPixels(normalized, spec), spec.width, spec.height,
            Bitmap.Config.ARGB_8888)
        val decision = Classification.decide(scores, model.labels, maxResults, threshold, contract.rejection)
        return Result(decision, preprocessMs, ms, preview)
    }

    override fun close() {
        inputs.forEach { it.close() }
        outputs.forEach { it.close() }
        compiled.close()
        environment.close()
    }
}
