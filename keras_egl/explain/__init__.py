"""Differentiable, batched explanations (input gradients, Grad-CAM) and mask utilities."""

from keras_egl.explain.activations import ActivationModel, find_layer  # noqa: F401
from keras_egl.explain.grad_cam import cam_from_gradients, grad_cam  # noqa: F401
from keras_egl.explain.gradients import gradient_mask, input_gradients, largest_gradient_mask  # noqa: F401
from keras_egl.explain.targets import class_weights, select_target  # noqa: F401
from keras_egl.explain.attribution import (gradient_x_input, integrated_gradients, occlusion,  # noqa: F401
                                           smoothgrad)
from keras_egl.explain.masks import (adaptive_max_pool2d, adaptive_min_pool2d, adaptive_pool_bins,  # noqa: F401
                                     normalize_map, resize_mask)
