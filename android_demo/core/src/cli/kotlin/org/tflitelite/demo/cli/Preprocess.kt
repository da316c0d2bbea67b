package org.tflitelite.demo.cli

import java.io.ByteArrayOutputStream
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import javax.imageio.ImageIO
import kotlin.system.exitProcess
import org.tflitelite.demo.core.CameraFrame
import org.tflitelite.demo.core.ModelContract
import org.tflitelite.demo.core.Quantization

/**
 * The app's camera path on a computer: PNG or JPEG frames, of any size and aspect, through
 * `CameraFrame` exactly as the app runs it for a camera frame with `--rotation`, written as one
 * `.npy` array (N, H, W, C) in the model's input dtype (int8 / uint8 / int16 quantized as the
 * contract says, or float32).
 *
 *     preprocess --contract CONTRACT.json --rotation DEG --output OUT.npy FRAME.png [FRAME.jpg ...]
 *
 * Bad input (a missing or undecodable frame, a bad contract or flag) is one `error:` line on
 * stderr and exit status 2; nothing is written then.
 */
fun main(args: Array<String>) {
    try {
        run(args)
    } catch (e: IllegalArgumentException) {
        System.err.println("error: ${e.message}")
        exitProcess(2)
    }
}

private fun run(args: Array<String>) {
    var contractPath: String? = null
    var rotation = 0
    var output: String? = null
    val frames = ArrayList<String>()
    var i = 0
    while (i < args.size) {
        val value = { require(i + 1 < args.size) { "${args[i]} needs a value" }; args[++i] }
        when (args[i]) {
            "--contract" -> contractPath = value()
            "--rotation" -> rotation = value().toIntOrNull() ?: throw IllegalArgumentException(
                "--rotation must be an integer number of degrees, got ${args[i]}")
            "--output" -> output = value()
            else -> {
                require(!args[i].startsWith("--")) { "unknown flag ${args[i]}" }
                frames.add(args[i])
            }
        }
        i++
    }
    requireNotNull(contractPath) { "--contract is required" }
    requireNotNull(output) { "--output is required" }
    require(output.endsWith(".npy")) { "--output must end with .npy, got $output" }
    require(frames.isNotEmpty()) { "no frames given" }
    CameraFrame.normalizedRotation(rotation)
    val contractFile = File(contractPath)
    require(contractFile.isFile) { "$contractPath: no such contract file" }
    val contract = ModelContract.parse(contractFile.readText())
    val spec = contract.preprocessing
    val input = contract.input
    val values = spec.height * spec.width * spec.channels
    val bytesPer = when (input.dtype) { "int8", "uint8" -> 1; "int16" -> 2; "float32" -> 4
        else -> throw IllegalArgumentException("contract: input dtype ${input.dtype} is not supported") }
    val data = ByteBuffer.allocate(frames.size * values * bytesPer).order(ByteOrder.LITTLE_ENDIAN)
    for (path in frames) {
        val file = File(path)
        require(file.isFile) { "$path: no such frame" }
        val image = try { ImageIO.read(file) } catch (e: Exception) { null }
            ?: throw IllegalArgumentException("$path: not a PNG or JPEG image")
        val argb = image.getRGB(0, 0, image.width, image.height, null, 0, image.width)
        val normalized = CameraFrame.modelInput(argb, image.width, image.height, rotation, spec)
        if (input.dtype == "float32") {
            normalized.forEach { data.putFloat(it) }
        } else {
            for (q in Quantization.inputTensor(normalized, input)) {
                if (bytesPer == 1) data.put(q.toByte()) else data.putShort(q.toShort())
            }
        }
    }
    val descr = mapOf("int8" to "|i1", "uint8" to "|u1", "int16" to "<i2", "float32" to "<f4")[input.dtype]
    writeNpy(File(output), descr!!, intArrayOf(frames.size, spec.height, spec.width, spec.channels), data.array())
}

/** numpy's .npy format 1.0, written to a temporary file and renamed (never half-written). */
private fun writeNpy(file: File, descr: String, shape: IntArray, body: ByteArray) {
    var header = "{'descr': '$descr', 'fortran_order': False, 'shape': (${shape.joinToString(", ")}), }"
    val unpadded = 10 + header.length + 1
    header += " ".repeat((64 - unpadded % 64) % 64) + "\n"
    val out = ByteArrayOutputStream()
    out.write(byteArrayOf(0x93.toByte(), 'N'.toByte(), 'U'.toByte(), 'M'.toByte(), 'P'.toByte(), 'Y'.toByte(), 1, 0))
    out.write(header.length and 0xFF)
    out.write(header.length shr 8)
    out.write(header.toByteArray(Charsets.US_ASCII))
    out.write(body)
    val folder = file.absoluteFile.parentFile
    require(folder.isDirectory) { "${file.path}: its folder does not exist" }
    val tmp = File.createTempFile(".${file.name}", ".tmp", folder)
    try {
        tmp.writeBytes(out.toByteArray())
        require(tmp.renameTo(file)) { "${file.path}: cannot write" }
    } finally {
        tmp.delete()
    }
}
