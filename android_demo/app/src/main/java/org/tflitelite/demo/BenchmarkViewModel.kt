package org.tflitelite.demo

import android.app.Application
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.LiveData
import androidx.lifecycle.MutableLiveData
import java.util.concurrent.Executors
import org.tflitelite.demo.core.Accelerator
import org.tflitelite.demo.core.Decoding
import org.tflitelite.demo.core.LatencyStats
import org.tflitelite.demo.core.Outcome
import org.tflitelite.demo.core.SingleRun

/**
 * The benchmark's runs, kept across configuration changes: one run at a time (`SingleRun`), its
 * result shown again after a rotation. It runs on exactly the accelerator asked for, or says
 * why it cannot (no silent CPU fallback).
 */
class BenchmarkViewModel(application: Application) : AndroidViewModel(application) {
    private val executor = Executors.newSingleThreadExecutor()
    private val run = SingleRun<String>()
    private val _output = MutableLiveData<String>()
    private val _running = MutableLiveData(false)
    val output: LiveData<String> get() = _output
    val running: LiveData<Boolean> get() = _running

    /** Starts a run unless one is running (a second tap, or a tap on the rotated screen). */
    fun start(model: String, accelerator: Accelerator, threads: Int, runs: Int) {
        if (!run.tryStart()) return
        _running.value = true
        executor.execute {
            val text = when (val outcome = Decoding.attempt { measure(model, accelerator, threads, runs) }) {
                is Outcome.Success -> outcome.value
                is Outcome.Failure -> outcome.message
            }
            run.finish(text)
            _output.postValue(text)
            _running.postValue(false)
        }
    }

    /** N timed runs after warm-up, on a fixed mid-grey image, summarized as the host harness does. */
    private fun measure(model: String, accelerator: Accelerator, threads: Int, runs: Int): String {
        val app = getApplication<Application>()
        return ImageClassifier(app, ModelAssets.load(app, model), accelerator, threads, allowFallback = false).use { c ->
            val spec = c.model.contract.preprocessing
            c.setInput(FloatArray(spec.height * spec.width * spec.channels) { 128f }, spec.height, spec.width, spec.channels)
            repeat(WARMUP_RUNS) { c.invoke() }
            val stats = LatencyStats.of(DoubleArray(runs) { c.invoke().second })
            app.getString(R.string.benchmark_result, model, c.acceleratorLabel, threads, runs,
                stats.meanMs, stats.p50Ms, stats.p90Ms, c.initMs)
        }
    }

    override fun onCleared() {
        executor.shutdown()  // a run in progress finishes; its result is then dropped
    }

    companion object {
        private const val WARMUP_RUNS = 10
    }
}
