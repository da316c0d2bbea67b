package org.tflitelite.demo

import android.Manifest
import android.content.Intent
import android.content.pm.PackageManager
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.ImageDecoder
import android.net.Uri
import android.os.Build
import android.os.Bundle
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
import androidx.core.view.ViewCompat
import androidx.core.view.WindowInsetsCompat
import java.util.concurrent.Executors
import org.tflitelite.demo.core.CameraFrame
import org.tflitelite.demo.core.Preprocessing

/**
 * Camera or gallery input; the best classes or "nothing recognized" (the contract's rejection rule,
 * and a score threshold on top); the model input as the model sees it; preprocessing and
 * inference time; threads, accelerator and model.
 */
class MainActivity : ComponentActivity() {
    private val analysisExecutor = Executors.newSingleThreadExecutor()
    @Volatile private var classifier: ImageClassifier? = null
    private var cameraProvider: ProcessCameraProvider? = null
    private var threshold = 0.0  // on top of the contract's own rule
    private var maxResults = 3
    private var models: List<String> = emptyList()

    private lateinit var preview: PreviewView
    private lateinit var picked: ImageView
    private lateinit var results: TextView
    private lateinit var inferenceTime: TextView
    private lateinit var modelInput: ImageView

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
        modelInput = findViewById(R.id.model_input)
        // targetSdk 35 draws edge to edge: keep the controls clear of the status and navigation bars.
        val root = findViewById<View>(R.id.root)
        val padding = intArrayOf(root.paddingLeft, root.paddingTop, root.paddingRight, root.paddingBottom)
        ViewCompat.setOnApplyWindowInsetsListener(root) { view, insets ->
            val bars = insets.getInsets(WindowInsetsCompat.Type.systemBars() or WindowInsetsCompat.Type.displayCutout())
            view.setPadding(padding[0] + bars.left, padding[1] + bars.top, padding[2] + bars.right, padding[3] + bars.bottom)
            insets
        }

        models = ModelAssets.list(this)
        val modelSpinner = findViewById<Spinner>(R.id.model_spinner)
        modelSpinner.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, models)
        val reload = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) = reloadClassifier()
            override fun onNothingSelected(parent: AdapterView<*>?) = Unit
        }
        modelSpinner.onItemSelectedListener = reload
        findViewById<Spinner>(R.id.accelerator_spinner).onItemSelectedListener = reload
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
    private fun selectedAccelerator() = Accelerator.values()[findViewById<Spinner>(R.id.accelerator_spinner).selectedItemPosition]
    private fun selectedThreads() = findViewById<Spinner>(R.id.threads_spinner).selectedItemPosition + 1

    private fun reloadClassifier() {
        val name = selectedModel() ?: return
        analysisExecutor.execute {
            classifier?.close()
            classifier = try {
                ImageClassifier(this, ModelAssets.load(this, name), selectedAccelerator(), selectedThreads())
            } catch (e: Exception) {  // an accelerator the device lacks, a bad bundle: say so, keep going
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
        providerFuture.addListener({  // runs when the provider is ready: get() no longer blocks
            val provider = try {
                providerFuture.get()
            } catch (e: Exception) {
                showError(getString(R.string.camera_failed, e.message)); return@addListener
            }
            cameraProvider = provider
            val selector = listOf(CameraSelector.DEFAULT_BACK_CAMERA, CameraSelector.DEFAULT_FRONT_CAMERA)
                .firstOrNull { runCatching { provider.hasCamera(it) }.getOrDefault(false) }
            if (selector == null) {  // no camera at all: the gallery still works
                showError(getString(R.string.no_camera)); return@addListener
            }
            val previewUseCase = Preview.Builder().build().also { it.setSurfaceProvider(preview.surfaceProvider) }
            val analysis = ImageAnalysis.Builder()
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                .build()
            analysis.setAnalyzer(analysisExecutor) { image ->
                image.use {
                    // The sensor's frame as it is; the core turns it upright by this rotation.
                    val rotation = it.imageInfo.rotationDegrees
                    classifySafely { c -> c.classify(it.toBitmap(), rotation, maxResults, threshold) }
                }
            }
            try {
                provider.unbindAll()
                provider.bindToLifecycle(this, selector, previewUseCase, analysis)
            } catch (e: Exception) {
                showError(getString(R.string.camera_failed, e.message))
            }
        }, ContextCompat.getMainExecutor(this))
    }

    private fun classifyPicked(uri: Uri) {
        cameraProvider?.unbindAll()
        preview.visibility = View.GONE
        picked.visibility = View.VISIBLE
        analysisExecutor.execute {  // decoding a photo takes long: never on the UI thread
            val bitmap = try {
                decode(uri)
            } catch (e: Exception) {
                showError(getString(R.string.decode_failed, e.message)); return@execute
            }
            runOnUiThread { picked.setImageBitmap(bitmap) }
            classifySafely { it.classify(bitmap, 0, maxResults, threshold) }
        }
    }

    /** Runs `block` on the current classifier; an error is shown, never thrown at the app. */
    private fun classifySafely(block: (ImageClassifier) -> Result) {
        val current = classifier ?: return
        try {
            show(block(current))
        } catch (e: Exception) {
            showError(getString(R.string.classify_failed, e.message))
        }
    }

    /**
     * A picture decoded downsampled (`CameraFrame.decodeSampleSize`: a 12 MP photo becomes a
     * few hundred pixels a side, not 48 MB of pixels), upright (EXIF orientation applied by
     * ImageDecoder) and in software memory (getPixels needs it).
     */
    private fun decode(uri: Uri): Bitmap {
        val spec = classifier?.let { it.model.contract.preprocessing }
        if (Build.VERSION.SDK_INT >= 28) {
            return ImageDecoder.decodeBitmap(ImageDecoder.createSource(contentResolver, uri)) { decoder, info, _ ->
                decoder.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
                if (spec != null) {
                    decoder.setTargetSampleSize(CameraFrame.decodeSampleSize(info.size.width, info.size.height, spec))
                }
            }
        }
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        contentResolver.openInputStream(uri).use { BitmapFactory.decodeStream(it, null, bounds) }
        val options = BitmapFactory.Options().apply {  // decodeSampleSize refuses the -1 x -1 of a non-image
            inSampleSize = CameraFrame.decodeSampleSize(bounds.outWidth, bounds.outHeight, spec ?: FALLBACK_SPEC)
        }
        return contentResolver.openInputStream(uri).use { BitmapFactory.decodeStream(it, null, options) }
            ?: throw IllegalArgumentException("not an image")
    }

    private fun showError(message: String) = runOnUiThread {
        results.text = message
    }

    private fun show(result: Result) = runOnUiThread {
        val decision = result.decision
        results.text = if (decision.nothingRecognized) getString(R.string.nothing_recognized)
        else decision.recognitions.joinToString("\n") { "%s  %.3f".format(it.label, it.score) }
        inferenceTime.text = getString(R.string.inference_time, result.preprocessMs, result.inferenceMs)
        modelInput.setImageBitmap(result.modelInput)
    }

    companion object {
        /** Decodes a picture picked before any model loaded as if for a 224x224 RGB model. */
        private val FALLBACK_SPEC = Preprocessing(listOf(224, 224, 3), listOf(0f), listOf(1f), "bilinear")
    }

    override fun onDestroy() {
        super.onDestroy()
        analysisExecutor.execute { classifier?.close() }
        analysisExecutor.shutdown()
    }
}
