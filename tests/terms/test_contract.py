"""The term contract (keras_egl.testing.run_term_test) for every image term in the registry."""

import numpy as np
import pytest

from keras_egl import terms
from keras_egl.testing import run_term_test

IMAGE_TERMS = ["rrr", "feedback", "gradia", "haics", "res_g", "res_l"]


@pytest.mark.parametrize("name", IMAGE_TERMS)
def test_term_contract(name):
    result = run_term_test(lambda **kw: terms.get(name, **kw))
    assert np.isfinite(result["value"])
    # 3 bad-mask cases per mask key read + wrong-length has_annotation + length-1 sample_weight
    assert result["bad_inputs_checked"] >= 5


def test_small_params_contract():
    # reads no annotation: config round trip, finite, weights-free; active without masks
    result = run_term_test(lambda **kw: terms.get("small_params", lambda2=1e-3, **kw), check_bad_masks=False)
    assert result["value"] > 0


def test_registry_lists_every_method_and_rejects_unknown_names():
    assert set(IMAGE_TERMS) <= set(terms.names())
    with pytest.raises(ValueError, match="unknown term 'gradya'"):
        terms.get("gradya")
    with pytest.raises(TypeError, match="term"):
        terms.get(3.0)
    t = terms.get("rrr", weight=2.0)
    assert terms.get(t) is t
    with pytest.raises(ValueError, match="keyword"):
        terms.get(t, weight=1.0)
    again = terms.get({"class_name": type(t).__name__, "config": t.get_config(),
                       "module": None, "registered_name": f"keras_egl>{type(t).__name__}"})
    assert again.get_config() == t.get_config()
