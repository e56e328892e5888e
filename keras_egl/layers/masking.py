"""Mask handling shared by layers that take a mask as an explicit argument.

Keras 3 warns ("... does not support masking and will therefore destroy the
mask information") whenever a layer's first input carries a Keras mask (e.g.
from ``Embedding(mask_zero=True)`` through mask-propagating layers) and the
layer does not declare ``supports_masking``. The attention and readout layers
here *use* the mask (padding, inactive nodes) and their outputs are pooled over
the masked axis, so the right declaration is: masks are accepted, and none
flows on to the outputs.
"""


class ConsumesMask:
    """Mixin: the layer accepts a propagated mask and its outputs carry none.

    Call :meth:`_accept_mask` in ``__init__`` after ``super().__init__``.
    """

    def _accept_mask(self):
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        # Outputs are reduced over the masked axis (per-query context vectors,
        # graph embeddings): a mask on them would be meaningless.
        return None


__all__ = ["ConsumesMask"]
