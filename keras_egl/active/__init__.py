"""Active explanation feedback (Bekkemoen 2021): pipeline, samplers, region proposals, evaluation."""

from keras_egl.active.evaluation import (ATTRIBUTION_METHODS, attribution_maps, classification_scores,
                                         mc_predict, overlap_scores, uncertainty_scores)
from keras_egl.active.pipeline import ActiveFeedbackPipeline, BestValidationScore
from keras_egl.active.regions import apply_sign, propose_feedback_regions, regions_to_mask, top_mass_threshold
from keras_egl.active.samplers import (BALDSampler, EntropySampler, UniformSampler, bald_scores, get_sampler,
                                       predictive_entropy)

__all__ = [
    "ActiveFeedbackPipeline", "BestValidationScore",
    "UniformSampler", "EntropySampler", "BALDSampler", "get_sampler", "predictive_entropy", "bald_scores",
    "propose_feedback_regions", "regions_to_mask", "top_mass_threshold", "apply_sign",
    "mc_predict", "classification_scores", "uncertainty_scores", "attribution_maps", "overlap_scores",
    "ATTRIBUTION_METHODS",
]
