"""Interactive explanation-feedback loops (export overlays, import human edits, fine-tune)."""

from keras_egl.interactive.annotation_loop import (REASONABILITY_LABELS, export_batch, fine_tune,
                                                  import_annotations)

__all__ = ["export_batch", "import_annotations", "fine_tune", "REASONABILITY_LABELS"]
