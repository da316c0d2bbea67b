package org.tflitelite.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/** The app's hardening logic: accelerator truth, bounded decoding, visible states, single runs. */
class AppLogicTest {
    private val gpuFails: (Accelerator) -> String = { if (it == Accelerator.GPU) throw RuntimeException("no OpenCL") else "cpu model" }

    @Test
    fun theGpuIsCompiledAloneAndReportedOnlyWhenItRuns() {
        val asked = mutableListOf<Accelerator>()
        val compiled = AcceleratorChoice.compile(Accelerator.GPU, setOf(Accelerator.CPU, Accelerator.GPU), true) {
            asked += it; "gpu model"
        }
        assertEquals(listOf(Accelerator.GPU), asked)
        assertEquals(Accelerator.GPU, compiled.used)
        assertEquals("GPU", compiled.label)
    }

    @Test
    fun aGpuThatFailsFallsBackToTheCpuAndSaysSo() {
        val compiled = AcceleratorChoice.compile(Accelerator.GPU, null, true, gpuFails)
        assertEquals("cpu model", compiled.model)
        assertEquals(Accelerator.CPU, compiled.used)
        assertEquals("CPU (GPU unavailable: it failed to compile the model: no OpenCL)", compiled.label)
    }

    @Test
    fun aGpuTheDeviceLacksIsNamedAndTheBenchmarkRefusesIt() {
        val asked = mutableListOf<Accelerator>()
        val compiled = AcceleratorChoice.compile(Accelerator.GPU, setOf(Accelerator.CPU), true) { asked += it; gpuFails(it) }
        assertEquals(listOf(Accelerator.GPU, Accelerator.CPU), asked)
        assertEquals("CPU (GPU unavailable: not available on this device (available: CPU))", compiled.label)
        try {
            AcceleratorChoice.compile(Accelerator.GPU, null, false, gpuFails)
            fail("the benchmark must not run on another accelerator than the one asked for")
        } catch (e: AcceleratorUnavailable) {
            assertEquals("GPU: it failed to compile the model: no OpenCL", e.message)
        }
    }

    @Test
    fun theCpuIsNeverRelabelled() {
        val compiled = AcceleratorChoice.compile(Accelerator.CPU, setOf(Accelerator.CPU), false) { "cpu" }
        assertEquals("CPU", compiled.label)
        assertNull(compiled.fallbackReason)
    }

    @Test
    fun aHugePhotoIsDecodedDownsampledWithOrWithoutAModel() {
        val spec = Preprocessing(listOf(32, 32, 1), listOf(127.5f), listOf(127.5f), "bilinear")
        for (model in listOf(null, spec)) {
            for ((w, h) in listOf(Pair(16320, 12240), Pair(8160, 6120), Pair(50000, 400))) {
                val sample = Decoding.sampleSize(w, h, model)
                assertTrue("$w x $h decodes to ${(w / sample) * (h / sample)} pixels",
                    (w.toLong() / sample) * (h.toLong() / sample) <= Decoding.MAX_PIXELS)
                assertEquals("a power of two", 0, sample and (sample - 1))
            }
        }
        assertEquals(1, Decoding.sampleSize(640, 480, null))
        assertEquals("the model's own bound when it is tighter", 32, Decoding.sampleSize(16320, 12240, spec))
    }

    @Test
    fun outOfMemoryIsAMessageNotACrash() {
        val failed = Decoding.attempt<String> { throw OutOfMemoryError("Failed to allocate 799 MB") }
        assertTrue(failed is Outcome.Failure)
        assertTrue((failed as Outcome.Failure).message, failed.message.startsWith("out of memory (Failed to allocate 799 MB)"))
        val broken = Decoding.attempt<String> { throw IllegalArgumentException("not an image") }
        assertEquals("not an image", (broken as Outcome.Failure).message)
        assertEquals("ok", (Decoding.attempt { "ok" } as Outcome.Success).value)
    }

    @Test
    fun theModelIsCompiledOnceForTheSpinnersFirstReports() {
        val gate = SettingsGate()
        val settings = ClassifierSettings("m", Accelerator.CPU, 1)
        val loads = listOf(settings, settings.copy(), settings.copy()).count { gate.changed(it) }
        assertEquals(1, loads)
        assertTrue(gate.changed(settings.copy(threads = 2)))
        gate.reset()
        assertTrue("a failed load may be retried with the same settings", gate.changed(settings.copy(threads = 2)))
    }

    @Test
    fun everyStateIsVisible() {
        assertFalse(ClassifierStatus.NoModels.ready)
        assertTrue(ClassifierStatus.NoModels.text.startsWith("No model loaded"))
        val failed = ClassifierStatus.Failed("mnv1", "labels.txt differs from the contract")
        assertFalse(failed.ready)
        assertEquals("No model loaded: mnv1 failed (labels.txt differs from the contract)", failed.text)
        assertFalse(ClassifierStatus.Loading("mnv1").ready)
        val ready = ClassifierStatus.Ready("mnv1", "CPU (GPU unavailable: x)", 12.4)
        assertTrue(ready.ready)
        assertEquals("mnv1 on CPU (GPU unavailable: x), compiled in 12 ms", ready.text)
    }

    @Test
    fun aBenchmarkNeverOverlapsItselfAndKeepsItsResult() {
        val run = SingleRun<String>()
        assertTrue(run.tryStart())
        assertFalse("a second tap, or a rotated screen, must not start a second run", run.tryStart())
        assertTrue(run.isRunning)
        run.finish("p50 1.2 ms")
        assertFalse(run.isRunning)
        assertEquals("p50 1.2 ms", run.lastResult)
        assertTrue(run.tryStart())
    }
}
