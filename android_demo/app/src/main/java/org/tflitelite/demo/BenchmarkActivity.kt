package org.tflitelite.demo

import android.os.Bundle
import android.widget.Button
import android.widget.EditText
import android.widget.TextView
import androidx.activity.ComponentActivity
import androidx.activity.viewModels
import org.tflitelite.demo.core.Accelerator

/**
 * N timed runs of the selected model, after warm-up, on a fixed mid-grey image: mean, p50 and
 * p90 computed as the host harness (`scripts/benchmark.py`) computes them, on exactly the
 * accelerator asked for. The runs live in `BenchmarkViewModel`: a rotation keeps them.
 */
class BenchmarkActivity : ComponentActivity() {
    private val viewModel: BenchmarkViewModel by viewModels()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_benchmark)
        val output = findViewById<TextView>(R.id.benchmark_output)
        val button = findViewById<Button>(R.id.run)
        val model = intent.getStringExtra(EXTRA_MODEL)
        val accelerator = Accelerator.valueOf(intent.getStringExtra(EXTRA_ACCELERATOR) ?: Accelerator.CPU.name)
        val threads = intent.getIntExtra(EXTRA_THREADS, 1)
        if (model == null) {
            output.setText(R.string.no_model_to_benchmark)
            button.isEnabled = false
            return
        }
        viewModel.output.observe(this) { output.text = it }
        viewModel.running.observe(this) { running ->
            button.isEnabled = !running
            if (running) output.text = getString(R.string.benchmark_running, model, accelerator.name)
        }
        button.setOnClickListener {
            val runs = findViewById<EditText>(R.id.runs).text.toString().toIntOrNull()?.coerceIn(1, 10000) ?: 100
            viewModel.start(model, accelerator, threads, runs)
        }
    }

    companion object {
        const val EXTRA_MODEL = "model"
        const val EXTRA_ACCELERATOR = "accelerator"
        const val EXTRA_THREADS = "threads"
    }
}
