package org.tflitelite.demo.core

/** What the live view runs with; read on the UI thread, handed to the worker as one value. */
data class ClassifierSettings(val model: String, val accelerator: Accelerator, val threads: Int)

/**
 * Passes a settings value on only when it differs from the last one. Each spinner reports its
 * first selection when the screen is laid out, and a configuration change lays it out again:
 * without this the model would be compiled once per report.
 */
class SettingsGate {
    private var last: ClassifierSettings? = null

    @Synchronized
    fun changed(settings: ClassifierSettings): Boolean {
        if (settings == last) return false
        last = settings
        return true
    }

    /** Forgets the last settings, so that the next ones load again (after a failed load). */
    @Synchronized
    fun reset() {
        last = null
    }
}

/** The live view's model, as the screen shows it: there is always a visible state. */
sealed class ClassifierStatus {
    abstract val text: String

    /** Frames and pictures are classified only when a model is ready. */
    open val ready: Boolean get() = false

    object NoModels : ClassifierStatus() {
        override val text = "No model loaded: the app has no bundled model (see the README)"
    }

    class Loading(val model: String) : ClassifierStatus() {
        override val text = "Loading $model…"
    }

    class Ready(val model: String, val acceleratorLabel: String, val initMs: Double) : ClassifierStatus() {
        override val text = "$model on $acceleratorLabel, compiled in ${"%.0f".format(initMs)} ms"
        override val ready get() = true
    }

    class Failed(val model: String, val reason: String) : ClassifierStatus() {
        override val text = "No model loaded: $model failed ($reason)"
    }
}

/**
 * One run at a time, its last result kept. The benchmark's view model holds it, so that a
 * rotation during a run neither loses the result nor starts a second, overlapping run.
 */
class SingleRun<R> {
    private var running = false
    private var last: R? = null

    /** True when a run may start now (and is then counted as running); false while one runs. */
    @Synchronized
    fun tryStart(): Boolean {
        if (running) return false
        running = true
        return true
    }

    @Synchronized
    fun finish(result: R) {
        last = result
        running = false
    }

    val isRunning: Boolean @Synchronized get() = running
    val lastResult: R? @Synchronized get() = last
}
