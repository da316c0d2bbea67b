package org.tflitelite.demo.core

/**
 * A camera frame or gallery picture to the model's normalized float input, exactly as the
 * Python side computes it (`tflite_lite.android.frame_input`):
 *
 * 1. turn the frame upright by `rotationDegrees` (clockwise, as CameraX's `ImageInfo` reports
 *    it: the rotation that makes the sensor image upright);
 * 2. centre-crop the upright picture to the model's aspect (the largest such crop);
 * 3. reduce the crop to the model's size by exact area averaging: each output pixel is the mean
 *    of the source area it covers, fractional pixels weighted by their share, so no pixel is
 *    skipped and nothing aliases (sums in integers, one division in double);
 * 4. convert channels (TensorFlow's RGB → gray weights), then (pixel - mean) / std.
 *
 * It reads the packed ARGB ints (`Bitmap.getPixels`, CameraX's RGBA frame converted) directly:
 * no float copy of the full frame is made.
 */
object CameraFrame {
    /** A rectangle in the upright picture's coordinates. */
    data class Crop(val left: Int, val top: Int, val width: Int, val height: Int)

    /** One axis of the area reduction: output i averages source [start[i], start[i] + weights[i].size). */
    class AxisWeights(val start: IntArray, val weights: Array<IntArray>, val total: Int)

    fun modelInput(argb: IntArray, width: Int, height: Int, rotationDegrees: Int, spec: Preprocessing): FloatArray {
        require(width > 0 && height > 0 && argb.size == width * height) {
            "frame has ${argb.size} pixels, expected $width x $height"
        }
        val rotation = normalizedRotation(rotationDegrees)
        val uprightWidth = if (rotation % 180 == 0) width else height
        val uprightHeight = if (rotation % 180 == 0) height else width
        val crop = centerCrop(uprightWidth, uprightHeight, spec.width, spec.height)
        val xs = areaWeights(crop.width, spec.width)
        val ys = areaWeights(crop.height, spec.height)
        val area = xs.total.toDouble() * ys.total
        val out = FloatArray(spec.height * spec.width * spec.channels)
        val sums = LongArray(3)
        for (oy in 0 until spec.height) {
            for (ox in 0 until spec.width) {
                sums.fill(0L)
                val wy = ys.weights[oy]
                val wx = xs.weights[ox]
                for (dy in wy.indices) {
                    val v = crop.top + ys.start[oy] + dy
                    for (dx in wx.indices) {
                        val u = crop.left + xs.start[ox] + dx
                        val pixel = argb[sensorIndex(u, v, width, height, rotation)]
                        val weight = wy[dy].toLong() * wx[dx]
                        sums[0] += ((pixel shr 16) and 0xFF) * weight
                        sums[1] += ((pixel shr 8) and 0xFF) * weight
                        sums[2] += (pixel and 0xFF) * weight
                    }
                }
                val r = (sums[0] / area).toFloat()
                val g = (sums[1] / area).toFloat()
                val b = (sums[2] / area).toFloat()
                val at = (oy * spec.width + ox) * spec.channels
                if (spec.channels == 1) {
                    out[at] = normalize(r * 0.2989f + g * 0.5870f + b * 0.1140f, 0, spec)
                } else {
                    out[at] = normalize(r, 0, spec)
                    out[at + 1] = normalize(g, 1, spec)
                    out[at + 2] = normalize(b, 2, spec)
                }
            }
        }
        return out
    }

    private fun normalize(value: Float, channel: Int, spec: Preprocessing): Float =
        (value - spec.meanOf(channel)) / spec.stdOf(channel)

    fun normalizedRotation(degrees: Int): Int {
        val rotation = ((degrees % 360) + 360) % 360
        require(rotation % 90 == 0) { "rotation must be a multiple of 90 degrees, got $degrees" }
        return rotation
    }

    /** The largest centred crop of a `width` x `height` picture with the model's aspect. */
    fun centerCrop(width: Int, height: Int, modelWidth: Int, modelHeight: Int): Crop {
        return if (width.toLong() * modelHeight > height.toLong() * modelWidth) {
            val cropWidth = maxOf(1, (height.toLong() * modelWidth / modelHeight).toInt())
            Crop((width - cropWidth) / 2, 0, cropWidth, height)
        } else {
            val cropHeight = maxOf(1, (width.toLong() * modelHeight / modelWidth).toInt())
            Crop(0, (height - cropHeight) / 2, width, cropHeight)
        }
    }

    /**
     * Area weights for `length` source pixels onto `size` outputs, in units of 1/size of a
     * source pixel: output i covers [i * length, (i + 1) * length), source j covers
     * [j * size, (j + 1) * size); the weight is their overlap, and each output's weights sum
     * to `length`.
     */
    fun areaWeights(length: Int, size: Int): AxisWeights {
        val start = IntArray(size)
        val weights = Array(size) { i ->
            val lo = i.toLong() * length
            val hi = (i + 1).toLong() * length
            val first = (lo / size).toInt()
            val last = ((hi - 1) / size).toInt()
            start[i] = first
            IntArray(last - first + 1) { k ->
                val j = first + k
                (minOf(hi, (j + 1).toLong() * size) - maxOf(lo, j.toLong() * size)).toInt()
            }
        }
        return AxisWeights(start, weights, length)
    }

    /**
     * The model's normalized input back as opaque ARGB pixels (height x width, 0-255 clamped,
     * gray as equal channels): what the app shows so the user sees what the model sees.
     */
    fun previewPixels(normalized: FloatArray, spec: Preprocessing): IntArray {
        require(normalized.size == spec.height * spec.width * spec.channels) {
            "input has ${normalized.size} values, expected ${spec.height} x ${spec.width} x ${spec.channels}"
        }
        return IntArray(spec.height * spec.width) { i ->
            val channel = { c: Int ->
                Math.round(normalized[i * spec.channels + c] * spec.stdOf(c) + spec.meanOf(c)).coerceIn(0, 255)
            }
            val r = channel(0)
            val g = if (spec.channels == 3) channel(1) else r
            val b = if (spec.channels == 3) channel(2) else r
            (0xFF shl 24) or (r shl 16) or (g shl 8) or b
        }
    }

    /** Index in the sensor frame of upright pixel (u, v), for a clockwise `rotation`. */
    fun sensorIndex(u: Int, v: Int, width: Int, height: Int, rotation: Int): Int = when (rotation) {
        0 -> v * width + u
        90 -> (height - 1 - u) * width + v
        180 -> (height - 1 - v) * width + (width - 1 - u)
        else -> u * width + (width - 1 - v)
    }

    /**
     * The `inSampleSize` to decode a `width` x `height` picture with: the largest power of two
     * that keeps its short side at least `oversample` times the model's larger side, so that
     * the area reduction still has pixels to average and a 12 MP photo costs a few MB.
     */
    fun decodeSampleSize(width: Int, height: Int, spec: Preprocessing, oversample: Int = 8): Int {
        require(width > 0 && height > 0) { "the image cannot be decoded (its size reads $width x $height)" }
        val needed = maxOf(spec.width, spec.height).toLong() * oversample
        var sample = 1
        while (minOf(width, height) / (sample * 2L) >= needed) sample *= 2
        return sample
    }
}
