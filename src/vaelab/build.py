"""Building a model for training or loading: the VAE from its config, plus what a
component needs from outside the model, built once here (DESIGN: constructing a model
loads no data set and trains nothing). Today that is the perceptual loss's feature
network, the dataset's cached domain classifier (vaelab/classifier.py), which may be
trained on first use.
"""

from __future__ import annotations

from vaelab.concepts import LIKELIHOODS, MODELS
from vaelab.config import Config
from vaelab.data import PreparedData
from vaelab.model import VAE


def build_model(config: Config, image_shape: tuple[int, ...], *, progress: bool = False
                ) -> VAE:
    """The model of ``config`` for images of ``image_shape``, with its feature network
    attached when its likelihood needs one."""
    from vaelab.classifier import load_or_train_classifier

    features = None
    if LIKELIHOODS.get(config.likelihood.name).needs_features:
        features = load_or_train_classifier(config.data.dataset, config.data, "cpu",
                                            progress=progress)
    model = MODELS.get(config.model.name)(config, image_shape)
    if features is not None:
        model.likelihood.attach_features(*features)
    return model


def model_rows(config: Config, data: PreparedData) -> PreparedData:
    """The prepared splits as the run's model family reads them (``VAE.prepare_data``: the
    images, or for a conditional family the images with their labels)."""
    return MODELS.get(config.model.name).prepare_data(config, data)
