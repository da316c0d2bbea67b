package org.tflitelite.demo

import android.os.Bundle
import android.widget.Button
import android.widget.EditText
import android.widget.TextView
import androidx.activity.ComponentActivity
import java.util.concurrent.Executors
import org.tflitelite.demo.core.LatencyStats

/**
 * N timed runs of the selected model, after warm-up, on a fixed mid-grey image: mean, p50 and
 * p90 computed as the host harness (`scripts/benchmark.py`) computes them.
 */
class BenchmarkActivity : ComponentActivity() {
    private val executor = Executors.newSingleThreadExecutor()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_benchmark)
        val output = findViewById<TextView>(R.id.benchmark_output)
        val model = intent.getStringExtra(EXTRA_MODEL)
        val accelerator = Accelerator.valueOf(intent.getStringExtra(EXTRA_ACCELERATOR) ?: Accelerator.CPU.name)
        val threads = intent.getIntExtra(EXTRA_THREADS, 1)
        findViewById<Button>(R.id.run).setOnClickListener { button ->
            val runs = findViewById<EditText>(R.id.runs).text.toString().toIntOrNull()?.coerceIn(1, 10000) ?: 100
            if (model == null) return@setOnClickListener
            button.isEnabled = false
            executor.execute {
                val text = try {
                    ImageClassifier(this, ModelAssets.load(this, model), accelerator, threads).use { c ->
                        val spec = c.model.contract.preprocessing
                        c.setInput(FloatArray(spec.height * spec.width * spec.channels) { 128f },
                            spec.height, spec.width, spec.channels)
                        repeat(WARMUP_RUNS) { c.invoke() }
                        val stats = LatencyStats.of(DoubleArray(runs) { c.invoke().second })
                        getString(R.string.benchmark_result, model, accelerator.name, threads, runs,
                            stats.meanMs, stats.p50Ms, stats.p90Ms, c.initMs)
                    }
                } catch (e: Exception) {
                    e.message ?: e.toString()
                }
                runOnUiThread {
                    output.text = text
                    button.isEnabled = true
                }
            }
        }
    }

    override fun onDestroy() {
        super.onDestroy()
        executor.shutdown()
    }

    companion object {
        const val EXTRA_MODEL = "model"
        const val EXTRA_ACCELERATOR = "accelerator"
        const val EXTRA_THREADS = "threads"
        private const val WARMUP_RUNS = 10
    }
}
