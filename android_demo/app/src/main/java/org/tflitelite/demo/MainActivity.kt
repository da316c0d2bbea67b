package org.tflitelite.demo

import android.Manifest
import android.content.Intent
import android.content.pm.PackageManager
import android.os.Bundle
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.ImageView
import android.widget.SeekBar
import android.widget.Spinner
import android.widget.TextView
import androidx.activity.ComponentActivity
import androidx.activity.result.contract.ActivityResultContracts
import androidx.activity.viewModels
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import androidx.core.view.ViewCompat
import androidx.core.view.WindowInsetsCompat
import org.tflitelite.demo.core.Accelerator
import org.tflitelite.demo.core.ClassifierSettings

/**
 * Camera or gallery input; the best classes or "nothing recognized" (the contract's rejection rule,
 * and a score threshold on top); the model input as the model sees it; preprocessing and
 * inference time; the model's status and the accelerator it really runs on. The state lives in
 * `DemoViewModel`, so a configuration change keeps the picture, the answer and the compiled model.
 */
class MainActivity : ComponentActivity() {
    private val viewModel: DemoViewModel by viewModels()
    private var models: List<String> = emptyList()
    private var cameraProvider: ProcessCameraProvider? = null

    private lateinit var preview: PreviewView
    private lateinit var picked: ImageView
    private lateinit var status: TextView
    private lateinit var results: TextView
    private lateinit var inferenceTime: TextView
    private lateinit var modelInput: ImageView
    private lateinit var modelSpinner: Spinner
    private lateinit var acceleratorSpinner: Spinner
    private lateinit var threadsSpinner: Spinner

    private val requestCamera = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) startCamera() else results.setText(R.string.camera_denied)
    }

    private val pickImage = registerForActivityResult(ActivityResultContracts.GetContent()) { uri ->
        uri?.let {
            cameraProvider?.unbindAll()
            viewModel.pick(it)
        }
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        preview = findViewById(R.id.preview)
        picked = findViewById(R.id.picked_image)
        status = findViewById(R.id.status)
        results = findViewById(R.id.results)
        inferenceTime = findViewById(R.id.inference_time)
        modelInput = findViewById(R.id.model_input)
        modelSpinner = findViewById(R.id.model_spinner)
        acceleratorSpinner = findViewById(R.id.accelerator_spinner)
        threadsSpinner = findViewById(R.id.threads_spinner)
        keepClearOfSystemBars(findViewById(R.id.root))

        models = ModelAssets.list(this)
        modelSpinner.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, models)
        // Each spinner reports its first selection at layout: the view model compiles once.
        val reload = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) =
                viewModel.select(selectedSettings())
            override fun onNothingSelected(parent: AdapterView<*>?) = Unit
        }
        listOf(modelSpinner, acceleratorSpinner, threadsSpinner).forEach { it.onItemSelectedListener = reload }
        if (models.isEmpty()) viewModel.select(null)

        bindSeekBar(R.id.threshold, R.id.threshold_label) { progress, label ->
            viewModel.threshold = progress / 100.0
            label.text = getString(R.string.threshold, viewModel.threshold)
        }
        bindSeekBar(R.id.max_results, R.id.max_results_label) { progress, label ->
            viewModel.maxResults = progress + 1
            label.text = getString(R.string.max_results, viewModel.maxResults)
        }
        findViewById<Button>(R.id.gallery_button).setOnClickListener { pickImage.launch("image/*") }
        findViewById<Button>(R.id.camera_button).setOnClickListener {
            viewModel.useCamera()
            ensureCamera()
        }
        findViewById<Button>(R.id.benchmark_button).setOnClickListener {
            val settings = selectedSettings() ?: return@setOnClickListener
            startActivity(Intent(this, BenchmarkActivity::class.java)
                .putExtra(BenchmarkActivity.EXTRA_MODEL, settings.model)
                .putExtra(BenchmarkActivity.EXTRA_ACCELERATOR, settings.accelerator.name)
                .putExtra(BenchmarkActivity.EXTRA_THREADS, settings.threads))
        }
        observe()
        if (viewModel.picked.value == null) ensureCamera()
    }

    private fun observe() {
        viewModel.status.observe(this) { status.text = it.text }
        viewModel.picked.observe(this) { bitmap ->
            picked.setImageBitmap(bitmap)
            picked.visibility = if (bitmap == null) View.GONE else View.VISIBLE
            preview.visibility = if (bitmap == null) View.VISIBLE else View.GONE
        }
        viewModel.result.observe(this) { result ->
            if (result == null) {  // nothing to show: no stale answer stays on screen
                results.text = ""
                inferenceTime.text = ""
                modelInput.setImageBitmap(null)
                return@observe
            }
            val decision = result.decision
            results.text = if (decision.nothingRecognized) getString(R.string.nothing_recognized)
            else decision.recognitions.joinToString("\n") { "%s  %.3f".format(it.label, it.score) }
            inferenceTime.text = getString(R.string.inference_time, result.preprocessMs, result.inferenceMs)
            modelInput.setImageBitmap(result.modelInput)
        }
        viewModel.message.observe(this) { message -> if (message != null) results.text = message }
    }

    /** The spinners' values, read here on the UI thread; null when no model is bundled. */
    private fun selectedSettings(): ClassifierSettings? {
        val model = models.getOrNull(modelSpinner.selectedItemPosition) ?: return null
        return ClassifierSettings(model, Accelerator.values()[acceleratorSpinner.selectedItemPosition],
            threadsSpinner.selectedItemPosition + 1)
    }

    /** targetSdk 35+ draws edge to edge: keep the controls clear of the status and navigation bars. */
    private fun keepClearOfSystemBars(root: View) {
        val padding = intArrayOf(root.paddingLeft, root.paddingTop, root.paddingRight, root.paddingBottom)
        ViewCompat.setOnApplyWindowInsetsListener(root) { view, insets ->
            val bars = insets.getInsets(WindowInsetsCompat.Type.systemBars() or WindowInsetsCompat.Type.displayCutout())
            view.setPadding(padding[0] + bars.left, padding[1] + bars.top, padding[2] + bars.right, padding[3] + bars.bottom)
            insets
        }
    }

    private fun bindSeekBar(barId: Int, labelId: Int, onChange: (Int, TextView) -> Unit) {
        val bar = findViewById<SeekBar>(barId)
        val label = findViewById<TextView>(labelId)
        onChange(bar.progress, label)
        bar.setOnSeekBarChangeListener(object : SeekBar.OnSeekBarChangeListener {
            override fun onProgressChanged(seekBar: SeekBar?, progress: Int, fromUser: Boolean) = onChange(progress, label)
            override fun onStartTrackingTouch(seekBar: SeekBar?) = Unit
            override fun onStopTrackingTouch(seekBar: SeekBar?) = Unit
        })
    }

    private fun ensureCamera() {
        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else {
            requestCamera.launch(Manifest.permission.CAMERA)
        }
    }

    private fun startCamera() {
        val providerFuture = ProcessCameraProvider.getInstance(this)
        providerFuture.addListener({  // runs when the provider is ready: get() no longer blocks
            val provider = try {
                providerFuture.get()
            } catch (e: Exception) {
                results.text = getString(R.string.camera_failed, e.message); return@addListener
            }
            cameraProvider = provider
            val selector = listOf(CameraSelector.DEFAULT_BACK_CAMERA, CameraSelector.DEFAULT_FRONT_CAMERA)
                .firstOrNull { runCatching { provider.hasCamera(it) }.getOrDefault(false) }
            if (selector == null) {  // no camera at all: the gallery still works
                results.setText(R.string.no_camera); return@addListener
            }
            val previewUseCase = Preview.Builder().build().also { it.setSurfaceProvider(preview.surfaceProvider) }
            val analysis = ImageAnalysis.Builder()
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                .build()
            // The view model's worker: frames wait behind a compile instead of racing it.
            analysis.setAnalyzer(viewModel.worker) { image ->
                image.use {
                    // The sensor's frame as it is; the core turns it upright by this rotation.
                    viewModel.classifyFrame(it.toBitmap(), it.imageInfo.rotationDegrees)
                }
            }
            try {
                provider.unbindAll()
                provider.bindToLifecycle(this, selector, previewUseCase, analysis)
            } catch (e: Exception) {
                results.text = getString(R.string.camera_failed, e.message)
            }
        }, ContextCompat.getMainExecutor(this))
    }
}
