package org.tflitelite.demo

import android.content.Context
import android.graphics.Bitmap
import android.os.SystemClock
import java.io.Closeable
import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Delegate
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.GpuDelegate
import org.tflitelite.demo.core.CameraFrame
import org.tflitelite.demo.core.Classification
import org.tflitelite.demo.core.Preprocessor
import org.tflitelite.demo.core.Quantization
import org.tflitelite.demo.core.Recognition
import org.tflitelite.demo.core.TensorSpec

enum class Accelerator { CPU, GPU, NNAPI }

/** Top-k, the time to make the model input and to run the model, and that input as a picture. */
class Result(
    val recognitions: List<Recognition>,
    val preprocessMs: Double,
    val inferenceMs: Double,
    val modelInput: Bitmap
)

/**
 * LiteRT's Interpreter on a bundled model. The input and output types and quantization are read
 * from the model itself and checked against the contract; int8, uint8 and float models work.
 */
class ImageClassifier(
    context: Context,
    val model: ModelAssets,
    val accelerator: Accelerator,
    val threads: Int
) : Closeable {
    private val delegate: Delegate? = if (accelerator == Accelerator.GPU) GpuDelegate() else null
    private val interpreter: Interpreter
    private val preprocessor = Preprocessor(model.contract.preprocessing)
    private val input: TensorSpec
    private val output: TensorSpec
    private val inputBuffer: ByteBuffer
    private val outputBuffer: ByteBuffer
    val initMs: Double

    init {
        val start = SystemClock.elapsedRealtimeNanos()
        val options = Interpreter.Options().setNumThreads(threads)
        delegate?.let { options.addDelegate(it) }
        if (accelerator == Accelerator.NNAPI) options.setUseNNAPI(true)
        interpreter = try {
            Interpreter(model.mapModel(context), options)
        } catch (e: Exception) {  // the delegate is native memory: free it on this path too
            (delegate as? Closeable)?.close()
            throw e
        }
        initMs = (SystemClock.elapsedRealtimeNanos() - start) / 1e6
        input = spec(interpreter.getInputTensor(0))
        output = spec(interpreter.getOutputTensor(0))
        val expected = model.contract.input
        require(input.dtype == expected.dtype && input.shape == expected.shape) {
            "model input ${input.dtype}${input.shape} differs from its contract ${expected.dtype}${expected.shape}"
        }
        inputBuffer = ByteBuffer.allocateDirect(interpreter.getInputTensor(0).numBytes()).order(ByteOrder.nativeOrder())
        outputBuffer = ByteBuffer.allocateDirect(interpreter.getOutputTensor(0).numBytes()).order(ByteOrder.nativeOrder())
    }

    private fun spec(tensor: org.tensorflow.lite.Tensor): TensorSpec {
        val dtype = when (tensor.dataType()) {
            DataType.INT8 -> "int8"
            DataType.UINT8 -> "uint8"
            DataType.FLOAT32 -> "float32"
            else -> throw IllegalArgumentException("unsupported tensor type ${tensor.dataType()}")
        }
        val q = tensor.quantizationParams()
        val quantized = dtype != "float32"
        return TensorSpec(tensor.name(), tensor.shape().toList(), dtype,
            if (quantized) q.scale.toDouble() else null, if (quantized) q.zeroPoint else null)
    }

    /** Fills the input buffer from 0-255 pixels (height x width x channels). */
    fun setInput(pixels: FloatArray, height: Int, width: Int, channels: Int) {
        write(preprocessor.normalizedInput(pixels, height, width, channels))
    }

    /**
     * Fills the input buffer from a camera frame or a picture, as the sensor or the file gave
     * it: the core turns it upright by `rotationDegrees`, centre-crops it to the model's aspect
     * and area-averages it down (`CameraFrame`, tested against the Python side bit for bit).
     */
    fun setFrame(bitmap: Bitmap, rotationDegrees: Int): FloatArray {
        val argb = IntArray(bitmap.width * bitmap.height)
        bitmap.getPixels(argb, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        val normalized = CameraFrame.modelInput(argb, bitmap.width, bitmap.height, rotationDegrees,
            model.contract.preprocessing)
        write(normalized)
        return normalized
    }

    private fun write(normalized: FloatArray) {
        inputBuffer.rewind()
        when (input.dtype) {
            "float32" -> normalized.forEach { inputBuffer.putFloat(it) }
            else -> Quantization.inputTensor(normalized, input).forEach { inputBuffer.put(it.toByte()) }
        }
    }

    /** Runs the model once on the current input; returns the class scores and the time. */
    fun invoke(): Pair<DoubleArray, Double> {
        inputBuffer.rewind()
        outputBuffer.rewind()
        val start = SystemClock.elapsedRealtimeNanos()
        interpreter.run(inputBuffer, outputBuffer)
        val ms = (SystemClock.elapsedRealtimeNanos() - start) / 1e6
        return Pair(scores(), ms)
    }

    fun rawOutput(): IntArray {
        outputBuffer.rewind()
        return IntArray(output.shape.last()) {
            if (output.dtype == "uint8") outputBuffer.get().toInt() and 0xFF else outputBuffer.get().toInt()
        }
    }

    private fun scores(): DoubleArray {
        if (output.dtype == "float32") {
            outputBuffer.rewind()
            return DoubleArray(output.shape.last()) { outputBuffer.float.toDouble() }
        }
        return Classification.scores(rawOutput(), output)
    }

    fun classify(bitmap: Bitmap, rotationDegrees: Int, maxResults: Int, threshold: Double): Result {
        val start = SystemClock.elapsedRealtimeNanos()
        val normalized = setFrame(bitmap, rotationDegrees)
        val preprocessMs = (SystemClock.elapsedRealtimeNanos() - start) / 1e6
        val (scores, ms) = invoke()
        val spec = model.contract.preprocessing
        val preview = Bitmap.createBitmap(CameraFrame.previewPixels(normalized, spec), spec.width, spec.height,
            Bitmap.Config.ARGB_8888)
        return Result(Classification.topK(scores, model.labels, maxResults, threshold), preprocessMs, ms, preview)
    }

    override fun close() {
        interpreter.close()
        (delegate as? Closeable)?.close()
    }
}
