package org.tflitelite.demo.core

import kotlin.math.ceil
import kotlin.math.floor
import kotlin.math.max
import kotlin.math.min

/**
 * 0-255 pixels (height x width x channels, row-major, as float) to the model's normalized
 * float input, exactly as the Python side does it: TensorFlow's bilinear resize with half-pixel
 * centres (float32, same operation order), then channel conversion, then (pixel - mean) / std.
 */
class Preprocessor(private val spec: Preprocessing) {

    fun normalizedInput(pixels: FloatArray, height: Int, width: Int, channels: Int): FloatArray {
        require(pixels.size == height * width * channels) {
            "image has ${pixels.size} values, expected $height x $width x $channels"
        }
        require(channels == 1 || channels == 3) { "images must have 1 or 3 channels, got $channels" }
        var image = pixels
        if (height != spec.height || width != spec.width) {
            image = resizeBilinear(image, height, width, channels, spec.height, spec.width)
        }
        image = convertChannels(image, spec.height * spec.width, channels, spec.channels)
        val out = FloatArray(image.size)
        for (i in image.indices) {
            val c = i % spec.channels
            out[i] = (image[i] - spec.meanOf(c)) / spec.stdOf(c)
        }
        return out
    }

    companion object {
        /** TensorFlow's `ResizeBilinear` with `half_pixel_centers=True` (what `tf.image.resize` runs). */
        fun resizeBilinear(
            src: FloatArray, inH: Int, inW: Int, channels: Int, outH: Int, outW: Int
        ): FloatArray {
            val ys = weights(inH, outH)
            val xs = weights(inW, outW)
            val out = FloatArray(outH * outW * channels)
            for (y in 0 until outH) {
                val yw = ys[y]
                for (x in 0 until outW) {
                    val xw = xs[x]
                    for (c in 0 until channels) {
                        val topLeft = src[(yw.lower * inW + xw.lower) * channels + c]
                        val topRight = src[(yw.lower * inW + xw.upper) * channels + c]
                        val bottomLeft = src[(yw.upper * inW + xw.lower) * channels + c]
                        val bottomRight = src[(yw.upper * inW + xw.upper) * channels + c]
                        val top = topLeft + (topRight - topLeft) * xw.lerp
                        val bottom = bottomLeft + (bottomRight - bottomLeft) * xw.lerp
                        out[(y * outW + x) * channels + c] = top + (bottom - top) * yw.lerp
                    }
                }
            }
            return out
        }

        private class Weight(val lower: Int, val upper: Int, val lerp: Float)

        private fun weights(inSize: Int, outSize: Int): Array<Weight> {
            val scale = inSize.toFloat() / outSize
            return Array(outSize) { i ->
                val position = (i.toFloat() + 0.5f) * scale - 0.5f
                val below = floor(position)
                Weight(max(below.toInt(), 0), min(ceil(position).toInt(), inSize - 1), position - below)
            }
        }

        /** Gray to RGB copies the channel; RGB to gray uses TensorFlow's weights. */
        fun convertChannels(image: FloatArray, pixels: Int, from: Int, to: Int): FloatArray {
            if (from == to) return image
            return if (from == 1) {
                FloatArray(pixels * 3) { image[it / 3] }
            } else {
                FloatArray(pixels) {
                    image[it * 3] * 0.2989f + image[it * 3 + 1] * 0.5870f + image[it * 3 + 2] * 0.1140f
                }
            }
        }
    }
}
