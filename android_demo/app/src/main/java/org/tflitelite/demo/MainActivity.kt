package org.tflitelite.demo

import android.Manifest
import android.content.Intent
import android.content.pm.PackageManager
import android.graphics.Bitmap
import android.graphics.ImageDecoder
import android.net.Uri
import android.os.Build
import android.os.Bundle
import android.provider.MediaStore
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.ImageView
import android.widget.SeekBar
import android.widget.Spinner
import android.widget.TextView
import android.widget.Toast
import androidx.activity.ComponentActivity
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import java.util.concurrent.Executors

/** Camera or gallery input, top-k with a threshold, inference time, threads, delegate, model. */
class MainActivity : ComponentActivity() {
    private val analysisExecutor = Executors.newSingleThreadExecutor()
    @Volatile private var classifier: ImageClassifier? = null
    private var threshold = 0.1
    private var maxResults = 3
    private var models: List<String> = emptyList()

    private lateinit var preview: PreviewView
    private lateinit var picked: ImageView
    private lateinit var results: TextView
    private lateinit var inferenceTime: TextView

    private val requestCamera = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) startCamera() else Toast.makeText(this, R.string.camera_denied, Toast.LENGTH_LONG).show()
    }

    private val pickImage = registerForActivityResult(ActivityResultContracts.GetContent()) { uri ->
        uri?.let { classifyPicked(it) }
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        preview = findViewById(R.id.preview)
        picked = findViewById(R.id.picked_image)
        results = findViewById(R.id.results)
        inferenceTime = findViewById(R.id.inference_time)

        models = ModelAssets.list(this)
        val modelSpinner = findViewById<Spinner>(R.id.model_spinner)
        modelSpinner.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, models)
        val reload = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) = reloadClassifier()
            override fun onNothingSelected(parent: AdapterView<*>?) = Unit
        }
        modelSpinner.onItemSelectedListener = reload
        findViewById<Spinner>(R.id.delegate_spinner).onItemSelectedListener = reload
        findViewById<Spinner>(R.id.threads_spinner).onItemSelectedListener = reload

        bindSeekBar(R.id.threshold, R.id.threshold_label) { progress, label ->
            threshold = progress / 100.0
            label.text = getString(R.string.threshold, threshold)
        }
        bindSeekBar(R.id.max_results, R.id.max_results_label) { progress, label ->
            maxResults = progress + 1
            label.text = getString(R.string.max_results, maxResults)
        }
        findViewById<Button>(R.id.gallery_button).setOnClickListener { pickImage.launch("image/*") }
        findViewById<Button>(R.id.camera_button).setOnClickListener { ensureCamera() }
        findViewById<Button>(R.id.benchmark_button).setOnClickListener {
            startActivity(Intent(this, BenchmarkActivity::class.java)
                .putExtra(BenchmarkActivity.EXTRA_MODEL, selectedModel())
                .putExtra(BenchmarkActivity.EXTRA_ACCELERATOR, selectedAccelerator().name)
                .putExtra(BenchmarkActivity.EXTRA_THREADS, selectedThreads()))
        }
        ensureCamera()
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

    private fun selectedModel() = models.getOrNull(findViewById<Spinner>(R.id.model_spinner).selectedItemPosition)
    private fun selectedAccelerator() = Accelerator.values()[findViewById<Spinner>(R.id.delegate_spinner).selectedItemPosition]
    private fun selectedThreads() = findViewById<Spinner>(R.id.threads_spinner).selectedItemPosition + 1

    private fun reloadClassifier() {
        val name = selectedModel() ?: return
        analysisExecutor.execute {
            classifier?.close()
            classifier = try {
                ImageClassifier(this, ModelAssets.load(this, name), selectedAccelerator(), selectedThreads())
            } catch (e: Exception) {  // a delegate the device lacks, a bad bundle: say so, keep going
                runOnUiThread { Toast.makeText(this, e.message, Toast.LENGTH_LONG).show() }
                null
            }
        }
    }

    private fun ensureCamera() {
        picked.visibility = View.GONE
        preview.visibility = View.VISIBLE
        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else {
            requestCamera.launch(Manifest.permission.CAMERA)
        }
    }

    private fun startCamera() {
        val providerFuture = ProcessCameraProvider.getInstance(this)
        providerFuture.addListener({
            val provider = providerFuture.get()
            val previewUseCase = Preview.Builder().build().also { it.setSurfaceProvider(preview.surfaceProvider) }
            val analysis = ImageAnalysis.Builder()
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                .build()
            analysis.setAnalyzer(analysisExecutor) { image ->
                image.use {
                    val bitmap = it.toBitmap()
                    classifier?.let { c -> show(c.classify(bitmap, maxResults, threshold)) }
                }
            }
            provider.unbindAll()
            provider.bindToLifecycle(this, CameraSelector.DEFAULT_BACK_CAMERA, previewUseCase, analysis)
        }, ContextCompat.getMainExecutor(this))
    }

    private fun classifyPicked(uri: Uri) {
        ProcessCameraProvider.getInstance(this).get().unbindAll()
        val bitmap = decode(uri)
        preview.visibility = View.GONE
        picked.visibility = View.VISIBLE
        picked.setImageBitmap(bitmap)
        analysisExecutor.execute { classifier?.let { show(it.classify(bitmap, maxResults, threshold)) } }
    }

    @Suppress("DEPRECATION")
    private fun decode(uri: Uri): Bitmap =
        if (Build.VERSION.SDK_INT >= 28) {
            ImageDecoder.decodeBitmap(ImageDecoder.createSource(contentResolver, uri)) { decoder, _, _ ->
                decoder.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
            }
        } else {
            MediaStore.Images.Media.getBitmap(contentResolver, uri)
        }

    private fun show(result: Result) = runOnUiThread {
        results.text = if (result.recognitions.isEmpty()) getString(R.string.no_results)
        else result.recognitions.joinToString("\n") { "%s  %.3f".format(it.label, it.score) }
        inferenceTime.text = getString(R.string.inference_time, result.inferenceMs)
    }

    override fun onDestroy() {
        super.onDestroy()
        analysisExecutor.execute { classifier?.close() }
        analysisExecutor.shutdown()
    }
}
