package org.tflitelite.demo

import android.content.Context
import org.tflitelite.demo.core.Classification
import org.tflitelite.demo.core.ModelContract

/**
 * A bundled model: `assets/models/<name>/` holds `<stem>.tflite`, its contract `<stem>.json`
 * and `labels.txt`, as `scripts/bundle_android_model.py` copies them.
 */
class ModelAssets(val name: String, val tflitePath: String, val contract: ModelContract, val labels: List<String>) {
    companion object {
        private const val ROOT = "models"

        fun list(context: Context): List<String> = context.assets.list(ROOT).orEmpty().sorted()

        fun load(context: Context, name: String): ModelAssets {
            val folder = "$ROOT/$name"
            val files = context.assets.list(folder).orEmpty()
            val tflite = files.singleOrNull { it.endsWith(".tflite") }
                ?: throw IllegalArgumentException("$folder: expected one .tflite file")
            val stem = tflite.removeSuffix(".tflite")
            val read = { file: String -> context.assets.open("$folder/$file").bufferedReader().use { it.readText() } }
            val contract = ModelContract.parse(read("$stem.json"))
            val labels = Classification.parseLabels(read("labels.txt"), contract.classNames.size)
            require(labels == contract.classNames) { "$folder: labels.txt differs from the contract's class names" }
            return ModelAssets(name, "$folder/$tflite", contract, labels)
        }
    }
}
