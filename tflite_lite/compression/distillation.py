"""Knowledge distillation: a student learns from labels and from a frozen teacher's logits.

    distiller = Distiller(student, teacher, temperature=4.0, alpha=0.5)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    distiller.fit(data.train, epochs=5,
                  callbacks=[DistillationSchedule(DistillationConfig(...), epochs=5)])
    distiller.student.save("student.keras")

The loss (Hinton et al., 2015) is

    α · CE(labels, student) + (1 − α) · T² · KL(softmax(teacher / T) ‖ softmax(student / T)),

with the logits read before each model's softmax (QAT- and pruning-wrapped students
included). With `Dataset.with_train_targets(teacher_logits_fn(teacher))` the teacher runs
once over the un-augmented training images and its logits travel with the images (the
cached, "offline" form); otherwise it runs on every augmented batch.
"""



from tflite_lite._graph import unwrapped
from tflite_lite._keras import is_keras3_model, keras, tf
from tflite_lite.errors import UserError
from tflite_lite.compression.config import DistillationConfig


def logits_and_probabilities(model):
    """A model sharing `model`'s layers that returns (logits, probabilities).

    The logits are the input of a final softmax `Activation` (the builders' `predictions`
    layer, also when tfmot wraps it); a model that outputs logits (a linear last layer) has its
    softmax added.

    Raises:
      UserError: when the model ends in neither (e.g. a Dense layer with a softmax inside).
    """
    output_layer = model.layers[-1]
    inner = unwrapped(output_layer)
    activation = inner.get_config().get("activation")
    if isinstance(inner, keras.layers.Activation) and activation == "softmax":
        logits = output_layer.input
        return keras.Model(model.inputs, [logits, model.outputs[0]])
    if activation == "linear" or activation is None and not isinstance(
            inner, keras.layers.Activation):
        logits = model.outputs[0]
        return keras.Model(model.inputs, [logits, tf.nn.softmax(logits)])
    raise UserError(f"model {model.name} ends in {inner.__class__.__name__} "
                    f"{output_layer.name!r} (activation {activation}); distillation needs a "
                    "softmax Activation layer or a logits output")


def teacher_logits_fn(teacher):
    """A batch → logits function running `teacher` in inference mode (for caching)."""
    heads = logits_and_probabilities(teacher)

    @tf.function(reduce_retracing=True)
    def predict(images):
        return heads(images, training=False)[0]

    return lambda images: predict(images).numpy()


def distillation_loss(teacher_logits, student_logits, temperature):
    """T² · KL(softmax(teacher / T) ‖ softmax(student / T)), averaged over the batch."""
    teacher_logits = tf.cast(teacher_logits, tf.float32)
    student_logits = tf.cast(student_logits, tf.float32)
    soft_targets = tf.nn.softmax(teacher_logits / temperature)
    log_teacher = tf.nn.log_softmax(teacher_logits / temperature)
    log_student = tf.nn.log_softmax(student_logits / temperature)
    kl = tf.reduce_sum(soft_targets * (log_teacher - log_student), axis=-1)
    return tf.reduce_mean(kl) * temperature ** 2


class Distiller(keras.Model):
    """A student trained with `fit()` against labels and a frozen teacher.

    `call` is the student's, so `evaluate` and `predict` measure the student. Training batches
    are `(images, labels)` (the teacher runs on each batch) or `(images, (labels,
    teacher_logits))` from `Dataset.with_train_targets`. Only the student's variables are
    trained; save `distiller.student`, which is an ordinary (or QAT / pruning-wrapped) model.
    A Keras 3 student gets the Keras 3 twin (`compression.keras3.distillation`) from the same
    call; its schedule callback is `keras3.distillation.DistillationSchedule`.

    Args:
      student: the Keras model to train, ending in a softmax or in logits.
      teacher: the Keras model to learn from; frozen. May be None when every training batch
        carries cached teacher logits.
      temperature: initial T. Defaults to 4.0.
      alpha: initial weight of the label cross-entropy. Defaults to 0.5.
    """

    def __new__(cls, student=None, *args, **kwargs):
        if cls is Distiller and is_keras3_model(student):  # the same call for Keras 3
            from tflite_lite.compression.keras3 import distillation  # noqa: PLC0415

            return distillation.Distiller(student, *args, **kwargs)
        return super().__new__(cls, student, *args, **kwargs)

    def __init__(self, student, teacher=None, temperature=4.0, alpha=0.5, **kwargs):
        super().__init__(**kwargs)
        self.student = student
        self.teacher = teacher
        self._student_heads = logits_and_probabilities(student)
        self._teacher_heads = None
        if teacher is not None:
            teacher.trainable = False
            self._teacher_heads = logits_and_probabilities(teacher)
        self.temperature = tf.Variable(float(temperature), trainable=False, name="temperature")
        self.alpha = tf.Variable(float(alpha), trainable=False, name="alpha")
        self._trackers = {name: keras.metrics.Mean(name) for name in ("loss", "ce_loss", "kd_loss")}
        if getattr(student, "inputs", None) is not None:
            # Built now, like the student: BackupAndRestore refuses (with a warning) to back up
            # an unbuilt model, and a resume restores into the variables that exist.
            self.build(student.input_shape)

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    @property
    def metrics(self):
        return [*self._trackers.values(), *super().metrics]

    def compile(self, optimizer="adam", metrics=("accuracy",), **kwargs):
        """Like `Model.compile`; the label loss is sparse categorical cross-entropy."""
        super().compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                        metrics=list(metrics), **kwargs)

    def _split_targets(self, images, targets):
        if isinstance(targets, (tuple, list)):
            return targets[0], targets[1]
        if self._teacher_heads is None:
            raise UserError("Distiller without a teacher needs batches with cached teacher "
                            "logits (Dataset.with_train_targets)")
        return targets, self._teacher_heads(images, training=False)[0]

    def train_step(self, data):
        images, targets = data[0], data[1]
        labels, teacher_logits = self._split_targets(images, targets)
        teacher_logits = tf.stop_gradient(teacher_logits)
        with tf.GradientTape() as tape:
            student_logits, probabilities = self._student_heads(images, training=True)
            ce_loss = self.compiled_loss(labels, probabilities,
                                         regularization_losses=self.student.losses)
            kd_loss = distillation_loss(teacher_logits, student_logits, self.temperature)
            loss = self.alpha * ce_loss + (1.0 - self.alpha) * kd_loss
        variables = self.student.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.compiled_metrics.update_state(labels, probabilities)
        for name, value in (("loss", loss), ("ce_loss", ce_loss), ("kd_loss", kd_loss)):
            self._trackers[name].update_state(value)
        return {metric.name: metric.result() for metric in self.metrics}

    def test_step(self, data):
        images, labels = data[0], data[1]
        if isinstance(labels, (tuple, list)):
            labels = labels[0]
        probabilities = self.student(images, training=False)
        loss = self.compiled_loss(labels, probabilities)
        self._trackers["loss"].update_state(loss)
        self.compiled_metrics.update_state(labels, probabilities)
        return {metric.name: metric.result() for metric in self.metrics
                if metric.name not in ("ce_loss", "kd_loss")}


class DistillationSchedule(keras.callbacks.Callback):
    """Sets a `Distiller`'s temperature and alpha at each epoch from a `DistillationConfig`
    (linear from the initial to the final values) and logs both as `temperature` / `alpha`."""

    def __init__(self, config, epochs):
        super().__init__()
        self.config = config
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        temperature, alpha = self.config.values_at(epoch, self.epochs)
        self.model.temperature.assign(temperature)
        self.model.alpha.assign(alpha)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["temperature"] = float(self.model.temperature.numpy())
            logs["alpha"] = float(self.model.alpha.numpy())


def check_compatible(teacher, student_input_shape, num_classes):
    """Raises `UserError` unless `teacher` takes `student_input_shape` and predicts
    `num_classes` classes."""
    teacher_input = tuple(teacher.inputs[0].shape[1:])
    teacher_classes = teacher.outputs[0].shape[-1]
    if teacher_classes != num_classes:
        raise UserError(f"distillation: the teacher predicts {teacher_classes} classes, the "
                        f"student's dataset has {num_classes}")
    if teacher_input != tuple(student_input_shape):
        raise UserError(f"distillation: the teacher takes {teacher_input} inputs, the student "
                        f"{tuple(student_input_shape)}")


__all__ = ["DistillationConfig", "Distiller", "DistillationSchedule", "distillation_loss",
           "logits_and_probabilities", "teacher_logits_fn", "check_compatible"]
