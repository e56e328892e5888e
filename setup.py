from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
requirements = [
    line.strip()
    for line in (here / "requirements.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]

setup(
    name="keras_egl",
    version="0.1.0",
    description="Explanation-guided learning for Keras 3 or tf_keras on TensorFlow: RRR, BEAN, "
    "DynGraph2Seq, GNES, GRADIA, RES/HAICS and Bayesian explanation feedback.",
    long_description=(here / "README.md").read_text() if (here / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_egl", "keras_egl.*"]),
    install_requires=requirements,
    extras_require={"dev": ["pytest>=7.4", "pytest-xdist>=3.5", "hypothesis>=6.90"]},
    license="MIT",
)
