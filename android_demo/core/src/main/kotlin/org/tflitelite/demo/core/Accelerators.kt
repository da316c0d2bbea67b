package org.tflitelite.demo.core

/** Where the model runs. NNAPI is not offered: Android 15 deprecates it. */
enum class Accelerator { CPU, GPU }

/** Thrown when the accelerator asked for cannot run the model and no fallback is allowed. */
class AcceleratorUnavailable(message: String) : IllegalStateException(message)

/**
 * A model compiled for exactly one accelerator, the one it really runs on (`used`), and, when
 * that is not the one asked for, why.
 */
class Compiled<T>(val model: T, val requested: Accelerator, val used: Accelerator, val fallbackReason: String?) {
    /** What the screen shows: "GPU", or "CPU (GPU unavailable: <reason>)". */
    val label: String
        get() = if (fallbackReason == null) used.name else "${used.name} (${requested.name} unavailable: $fallbackReason)"
}

/**
 * Compiles for one accelerator at a time. LiteRT's `Options(GPU, CPU)` runs on the CPU when the
 * GPU accelerator cannot load, while the app would still say "GPU"; so the GPU is asked for
 * alone, and a failure is caught here, named, and (for the live view only) followed by an
 * explicit CPU compile whose label says why.
 */
object AcceleratorChoice {
    /**
     * `compile` builds the model for exactly the accelerator it is given; its success is the
     * proof. `available` (what the runtime's environment lists, null when unknown) only names
     * the cause of a failure.
     */
    fun <T> compile(
        requested: Accelerator,
        available: Set<Accelerator>?,
        allowFallback: Boolean,
        compile: (Accelerator) -> T
    ): Compiled<T> {
        val failure = try {
            return Compiled(compile(requested), requested, requested, null)
        } catch (e: Exception) {
            if (requested == Accelerator.CPU) throw e
            e.message ?: e.javaClass.simpleName
        }
        val reason = if (available != null && requested !in available) {
            "not available on this device (available: ${available.sorted().joinToString(", ") { it.name }.ifEmpty { "none" }})"
        } else {
            "it failed to compile the model: $failure"
        }
        if (!allowFallback) throw AcceleratorUnavailable("${requested.name}: $reason")
        return Compiled(compile(Accelerator.CPU), requested, Accelerator.CPU, reason)
    }
}
