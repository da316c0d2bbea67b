package org.tflitelite.demo

import android.graphics.Color
import android.net.Uri
import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import java.io.File
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith

/**
 * On a device, API 24 and up: a JPEG stored 64 x 32 with EXIF orientation 6 ("rotate 90
 * clockwise"), left half red, decodes upright as 32 x 64 with red on top, through
 * `androidx.exifinterface` on API 24-27 and `ImageDecoder` from 28.
 */
@RunWith(AndroidJUnit4::class)
class PictureDecoderInstrumentedTest {
    @Test
    fun exifOrientationIsApplied() {
        val instrumentation = InstrumentationRegistry.getInstrumentation()
        val file = File(instrumentation.targetContext.cacheDir, "exif_orientation_6.jpg")
        instrumentation.context.assets.open("exif_orientation_6.jpg").use { input ->
            file.outputStream().use { input.copyTo(it) }
        }
        val bitmap = PictureDecoder.decode(instrumentation.targetContext.contentResolver, Uri.fromFile(file), null)
        assertEquals(32, bitmap.width)
        assertEquals(64, bitmap.height)
        val top = bitmap.getPixel(16, 8)
        val bottom = bitmap.getPixel(16, 56)
        assertTrue("top should be red, is #%08x".format(top), Color.red(top) > 200 && Color.blue(top) < 60)
        assertTrue("bottom should be blue, is #%08x".format(bottom), Color.blue(bottom) > 200 && Color.red(bottom) < 60)
    }
}
