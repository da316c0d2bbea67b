package org.tflitelite.demo

import android.content.ContentResolver
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.ImageDecoder
import android.graphics.Matrix
import android.net.Uri
import android.os.Build
import androidx.exifinterface.media.ExifInterface
import org.tflitelite.demo.core.Decoding
import org.tflitelite.demo.core.Preprocessing

/**
 * A gallery picture decoded downsampled (`Decoding.sampleSize`: enough pixels for the model, at
 * most 4 MP, with or without a model loaded), upright, and in software memory (getPixels needs
 * it). Callers run it through `Decoding.attempt`, so that an OutOfMemoryError is a message.
 */
object PictureDecoder {
    fun decode(resolver: ContentResolver, uri: Uri, spec: Preprocessing?): Bitmap {
        if (Build.VERSION.SDK_INT >= 28) {  // ImageDecoder applies the EXIF orientation itself
            return ImageDecoder.decodeBitmap(ImageDecoder.createSource(resolver, uri)) { decoder, info, _ ->
                decoder.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
                decoder.setTargetSampleSize(Decoding.sampleSize(info.size.width, info.size.height, spec))
            }
        }
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        resolver.openInputStream(uri).use { BitmapFactory.decodeStream(it, null, bounds) }
        val options = BitmapFactory.Options().apply {  // sampleSize refuses the -1 x -1 of a non-image
            inSampleSize = Decoding.sampleSize(bounds.outWidth, bounds.outHeight, spec)
        }
        val bitmap = resolver.openInputStream(uri).use { BitmapFactory.decodeStream(it, null, options) }
            ?: throw IllegalArgumentException("not an image")
        val exif = resolver.openInputStream(uri)?.use { ExifInterface(it) } ?: return bitmap
        return upright(bitmap, exif.rotationDegrees, exif.isFlipped)
    }

    /** BitmapFactory ignores EXIF (API 24-27): flip, then rotate, as ExifInterface defines them. */
    private fun upright(bitmap: Bitmap, rotationDegrees: Int, flipped: Boolean): Bitmap {
        if (rotationDegrees == 0 && !flipped) return bitmap
        val matrix = Matrix().apply {
            if (flipped) postScale(-1f, 1f)
            postRotate(rotationDegrees.toFloat())
        }
        return Bitmap.createBitmap(bitmap, 0, 0, bitmap.width, bitmap.height, matrix, true)
            .also { if (it !== bitmap) bitmap.recycle() }
    }
}
