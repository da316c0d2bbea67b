package org.tflitelite.demo.core

/**
 * How much of a picture to decode. A phone photo can be 50-200 MP (800 MB of ARGB pixels at
 * 200 MP): it is always decoded downsampled, whether or not a model is loaded, and a failure,
 * out of memory included, becomes a message instead of a crash.
 */
object Decoding {
    /** At most this many decoded pixels (16 MB of ARGB), whatever the model. */
    const val MAX_PIXELS = 4_000_000L

    /** The model assumed when none is loaded yet: 224 x 224. */
    private val FALLBACK_SPEC = Preprocessing(listOf(224, 224, 3), listOf(0f), listOf(1f), "bilinear")

    /**
     * The power-of-two sample size for a `width` x `height` picture: enough pixels for the
     * model (`CameraFrame.decodeSampleSize`), and never more than `MAX_PIXELS`.
     */
    fun sampleSize(width: Int, height: Int, spec: Preprocessing?): Int {
        var sample = CameraFrame.decodeSampleSize(width, height, spec ?: FALLBACK_SPEC)
        while ((width.toLong() / sample) * (height.toLong() / sample) > MAX_PIXELS) sample *= 2
        return sample
    }

    /** A one-line message for any failure while decoding or classifying, OutOfMemoryError included. */
    fun message(error: Throwable): String = when (error) {
        is OutOfMemoryError -> "out of memory (${error.message ?: "the picture is too large"}); try a smaller picture"
        else -> error.message ?: error.javaClass.simpleName
    }

    /** Runs `block`; an Exception or an OutOfMemoryError comes back as its message, never thrown. */
    fun <T> attempt(block: () -> T): Outcome<T> = try {
        Outcome.Success(block())
    } catch (e: Exception) {
        Outcome.Failure(message(e))
    } catch (e: OutOfMemoryError) {
        Outcome.Failure(message(e))
    }
}

/** A value or the one-line message that says why there is none. */
sealed class Outcome<out T> {
    class Success<T>(val value: T) : Outcome<T>()
    class Failure(val message: String) : Outcome<Nothing>()
}
