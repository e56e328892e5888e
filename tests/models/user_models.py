"""A user's own subclassed model, importable by the fresh processes of ``test_user_models.py``."""

from keras_egl import keras


@keras.saving.register_keras_serializable(package="user")
class SmallNet(keras.Model):
    """A subclassed CNN as a user would write it (its own layers, config, no keras_egl code)."""

    def __init__(self, n_classes=3, **kwargs):
        super().__init__(**kwargs)
        self.n_classes = n_classes
        self.conv = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(n_classes)

    def call(self, x, training=None):
        return self.head(self.pool(self.conv(x)))

    def get_config(self):
        return {**super().get_config(), "n_classes": self.n_classes}
