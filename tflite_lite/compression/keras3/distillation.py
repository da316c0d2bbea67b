"""Knowledge distillation for Keras 3 students: the same loss and calls as
`compression.distillation.Distiller`, written with `keras.ops` (any backend).

`Distiller(student, teacher)` builds this one when the student is a Keras 3 model (plain,
QAT or pruning-wrapped). Its `call` returns the student's probabilities, as the tf_keras one
does; the loss reads the student's logits as log(probabilities), which has the same softmax at
every temperature (the two differ by a constant per image).
"""

from tflite_lite._keras import keras3
from tflite_lite.errors import UserError

keras = keras3()
ops = keras.ops
_TINY = 1e-12


def _probabilities_model(model):
    """`model` when it ends in a softmax; else `model` with a softmax after its logits."""
    last = model.layers[-1]
    activation = getattr(getattr(last, "layer", last), "activation", None)
    if getattr(activation, "__name__", None) == "softmax" or type(last).__name__ == "Softmax":
        return model
    if getattr(activation, "__name__", None) not in ("linear", None):
        raise UserError(f"model {model.name!r} ends in {type(last).__name__} {last.name!r} "
                        f"(activation {activation.__name__}); distillation needs a softmax "
                        "or a logits output")
    return keras.Model(model.inputs, ops.softmax(model.outputs[0]), name=model.name)


def distillation_loss(teacher_logits, student_logits, temperature):
    """T² · KL(softmax(teacher / T) ‖ softmax(student / T)), averaged over the batch."""
    teacher = ops.log_softmax(ops.cast(teacher_logits, "float32") / temperature)
    student = ops.log_softmax(ops.cast(student_logits, "float32") / temperature)
    kl = ops.sum(ops.exp(teacher) * (teacher - student), axis=-1)
    return ops.mean(kl) * temperature ** 2


class Distiller(keras.Model):
    """A Keras 3 student trained with `fit()` against labels and a frozen teacher (see
    `compression.distillation.Distiller`: same arguments, batches and schedule callback)."""

    def __init__(self, student, teacher=None, temperature=4.0, alpha=0.5, **kwargs):
        super().__init__(**kwargs)
        self.student = student
        self.teacher = teacher
        self._student_probabilities = _probabilities_model(student)
        self._teacher_probabilities = None
        if teacher is not None:
            teacher.trainable = False
            self._teacher_probabilities = _probabilities_model(teacher)
        self.temperature = keras.Variable(float(temperature), trainable=False,
                                          name="temperature")
        self.alpha = keras.Variable(float(alpha), trainable=False, name="alpha")

    def call(self, inputs, training=None):
        return self._student_probabilities(inputs, training=training)

    def compile(self, optimizer="adam", metrics=("accuracy",), **kwargs):
        """Like `Model.compile`; the label loss is sparse categorical cross-entropy."""
        super().compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                        metrics=list(metrics), **kwargs)

    def _labels_and_teacher(self, images, targets):
        if isinstance(targets, (tuple, list)):
            return targets[0], targets[1]
        if self._teacher_probabilities is None:
            raise UserError("Distiller without a teacher needs batches with cached teacher "
                            "logits (Dataset.with_train_targets)")
        teacher = self._teacher_probabilities(images, training=False)
        return targets, ops.log(ops.maximum(ops.stop_gradient(teacher), _TINY))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        labels, teacher_logits = self._labels_and_teacher(x, y)
        label_loss = ops.mean(keras.losses.sparse_categorical_crossentropy(labels, y_pred))
        if not training:
            return label_loss
        student_logits = ops.log(ops.maximum(y_pred, _TINY))
        kd_loss = distillation_loss(ops.stop_gradient(teacher_logits), student_logits,
                                    self.temperature)
        return self.alpha * label_loss + (1.0 - self.alpha) * kd_loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        labels = y[0] if isinstance(y, (tuple, list)) else y
        return super().compute_metrics(x, labels, y_pred, sample_weight)


class DistillationSchedule(keras.callbacks.Callback):
    """The Keras 3 twin of `compression.distillation.DistillationSchedule`."""

    def __init__(self, config, epochs):
        super().__init__()
        self.config, self.epochs = config, epochs

    def on_epoch_begin(self, epoch, logs=None):
        temperature, alpha = self.config.values_at(epoch, self.epochs)
        self.model.temperature.assign(temperature)
        self.model.alpha.assign(alpha)
