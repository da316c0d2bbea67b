package org.tflitelite.demo

import android.app.Application
import android.graphics.Bitmap
import android.net.Uri
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.LiveData
import androidx.lifecycle.MutableLiveData
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import org.tflitelite.demo.core.ClassifierSettings
import org.tflitelite.demo.core.ClassifierStatus
import org.tflitelite.demo.core.Decoding
import org.tflitelite.demo.core.Outcome
import org.tflitelite.demo.core.SettingsGate

/**
 * The live view's state, kept across configuration changes (rotation, dark mode, multi-window,
 * folding): the compiled classifier, its status, the picked picture and the last answer. The
 * classifier is touched only on `worker`, one thread, so compiling, decoding and classifying
 * never run on the UI thread and never run at the same time.
 */
class DemoViewModel(application: Application) : AndroidViewModel(application) {
    val worker: ExecutorService = Executors.newSingleThreadExecutor()
    private val gate = SettingsGate()
    private var classifier: ImageClassifier? = null  // worker thread only

    @Volatile var threshold = 0.0  // on top of the contract's own rule
    @Volatile var maxResults = 3
    @Volatile private var picture: Bitmap? = null

    private val _status = MutableLiveData<ClassifierStatus>()
    private val _result = MutableLiveData<Result?>()
    private val _message = MutableLiveData<String?>()
    private val _picked = MutableLiveData<Bitmap?>()
    val status: LiveData<ClassifierStatus> get() = _status
    /** The last answer; null while there is none to show (no model, a new model, a failure). */
    val result: LiveData<Result?> get() = _result
    /** The last picture's or frame's error, shown in place of an answer. */
    val message: LiveData<String?> get() = _message
    /** The picked picture, or null while the camera is the input. */
    val picked: LiveData<Bitmap?> get() = _picked

    /** Called on the UI thread with the spinners' values; compiles only when they changed. */
    fun select(settings: ClassifierSettings?) {
        if (settings == null) {
            _status.value = ClassifierStatus.NoModels
            return
        }
        if (!gate.changed(settings)) return
        _status.value = ClassifierStatus.Loading(settings.model)
        _result.value = null
        worker.execute { load(settings) }
    }

    private fun load(settings: ClassifierSettings) {
        classifier?.close()
        classifier = null
        val app = getApplication<Application>()
        val outcome = Decoding.attempt {
            ImageClassifier(app, ModelAssets.load(app, settings.model), settings.accelerator, settings.threads,
                allowFallback = true)
        }
        when (outcome) {
            is Outcome.Success -> {
                val loaded = outcome.value
                classifier = loaded
                _status.postValue(ClassifierStatus.Ready(settings.model, loaded.acceleratorLabel, loaded.initMs))
                picture?.let { classify { c -> c.classify(it, 0, maxResults, threshold) } }
            }
            is Outcome.Failure -> {
                gate.reset()  // the same settings may be tried again
                _result.postValue(null)
                _status.postValue(ClassifierStatus.Failed(settings.model, outcome.message))
            }
        }
    }

    /** A camera frame, on the worker (the analyzer's executor); dropped while a picture is shown. */
    fun classifyFrame(frame: Bitmap, rotationDegrees: Int) {
        if (picture == null) classify { it.classify(frame, rotationDegrees, maxResults, threshold) }
    }

    /** Decodes and classifies a gallery picture; the camera stays off until `useCamera`. */
    fun pick(uri: Uri) {
        worker.execute {
            val app = getApplication<Application>()
            val spec = classifier?.model?.contract?.preprocessing
            when (val decoded = Decoding.attempt { PictureDecoder.decode(app.contentResolver, uri, spec) }) {
                is Outcome.Success -> {
                    picture = decoded.value
                    _picked.postValue(decoded.value)
                    classify { it.classify(decoded.value, 0, maxResults, threshold) }
                }
                is Outcome.Failure -> {
                    _result.postValue(null)
                    _message.postValue(app.getString(R.string.decode_failed, decoded.message))
                }
            }
        }
    }

    fun useCamera() {
        picture = null
        _picked.value = null
        _result.value = null
    }

    /** Runs `block` on the current classifier, on the worker; a failure is shown, never thrown. */
    private fun classify(block: (ImageClassifier) -> Result) {
        val current = classifier ?: return  // the status line says why there is no answer
        when (val outcome = Decoding.attempt { block(current) }) {
            is Outcome.Success -> {
                _message.postValue(null)
                _result.postValue(outcome.value)
            }
            is Outcome.Failure -> {
                _result.postValue(null)
                _message.postValue(getApplication<Application>().getString(R.string.classify_failed, outcome.message))
            }
        }
    }

    override fun onCleared() {
        worker.execute { classifier?.close() }
        worker.shutdown()
    }
}
