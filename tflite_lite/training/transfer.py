"""Transfer learning: the backbone frozen for the first epochs, then everything fine-tuned at a
lower rate (`TrainConfig.freeze_epochs`, `finetune_learning_rate`).

While frozen, only the classifier trains (the weighted layers after the last global pooling,
or a SqueezeNet's last convolution) and every batch norm runs in inference mode. Fine-tuning
then trains every layer but keeps batch norm in inference mode, as Keras' transfer-learning
guide does: a small dataset's batches would otherwise overwrite the pretrained statistics.
One `fit()` covers both phases, so the run resumes, logs and checkpoints as any other.
"""

from tflite_lite._keras import keras, tf


def classifier_layers(model):
    """The layers that train while the backbone is frozen."""
    layers = model.layers
    pools = [i for i, layer in enumerate(layers)
             if isinstance(layer, keras.layers.GlobalAveragePooling2D)]
    head = [layer for layer in layers[pools[-1] + 1:] if layer.weights] if pools else []
    return head or [next(layer for layer in reversed(layers) if layer.weights)]


def set_phase(model, frozen):
    """Frozen: only the classifier trains. Else every layer but batch norm trains."""
    head = {id(layer) for layer in classifier_layers(model)}
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
        else:
            layer.trainable = not frozen or id(layer) in head


@keras.utils.register_keras_serializable(package="tflite_lite")
class TransferSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Cosine decay from `learning_rate` over the frozen steps, then cosine decay from
    `finetune_learning_rate` over the rest."""

    def __init__(self, learning_rate, frozen_steps, finetune_learning_rate, total_steps):
        self.learning_rate = learning_rate
        self.frozen_steps = frozen_steps
        self.finetune_learning_rate = finetune_learning_rate
        self.total_steps = total_steps
        self._frozen = keras.optimizers.schedules.CosineDecay(learning_rate, frozen_steps)
        self._finetune = keras.optimizers.schedules.CosineDecay(
            finetune_learning_rate, max(1, total_steps - frozen_steps))

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        return tf.where(step < self.frozen_steps, self._frozen(step),
                        self._finetune(step - self.frozen_steps))

    def get_config(self):
        return {"learning_rate": self.learning_rate, "frozen_steps": self.frozen_steps,
                "finetune_learning_rate": self.finetune_learning_rate,
                "total_steps": self.total_steps}


class BackboneFreeze(keras.callbacks.Callback):
    """Sets the phase at the start of each epoch (also after a resume) and retraces the
    training step when it changes; every layer is trainable again when training ends."""

    def __init__(self, freeze_epochs, model):
        super().__init__()
        self.freeze_epochs = freeze_epochs
        self.frozen_model = model
        self._frozen = None

    def on_epoch_begin(self, epoch, logs=None):
        frozen = epoch < self.freeze_epochs
        if frozen != self._frozen:
            set_phase(self.frozen_model, frozen)
            self._frozen = frozen
            self.model.make_train_function(force=True)

    def on_train_end(self, logs=None):
        for layer in self.frozen_model.layers:
            layer.trainable = True
