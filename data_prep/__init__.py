"""Scripts that turn downloaded raw data sets into the formats keras_egl's loaders read."""
