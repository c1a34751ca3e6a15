"""The two trainers vaelab is timed against in train_speed.py, on the same MLP VAE.

- ``dataloader_loop``: the conventional PyTorch loop (as in pytorch/examples vae/main.py,
  lean): a ``Dataset`` returning one image tensor per index, ``DataLoader(shuffle=True)``
  with the default collate, plain ``torch.optim.Adam``.
- ``pythae_trainer``: pythae's ``VAE`` + ``BaseTrainer`` with an encoder and decoder of
  the same shapes (pythae's own Dataset/DataLoader inside).

Both compute the same per-image loss as vaelab's ELBO objective with the Bernoulli
likelihood and N(0, I) prior: −Σ_d log p(x_d|z) + KL(q(z|x) ‖ N(0, I)), averaged over the
batch (Kingma & Welling 2014, eq. 10 and App. B).
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset


@dataclass
class Result:
    name: str
    epoch_seconds: list[float] = field(default_factory=list)
    final_loss: float = float("nan")  # mean training loss per image of the last epoch
    skipped: str | None = None  # why the trainer did not run, if it did not


class MLPVAE(nn.Module):
    """784-400-2Z encoder and Z-400-784 decoder with ReLU; the decoder outputs logits."""

    def __init__(self, data_dim: int, hidden: int, latent_dim: int):
        super().__init__()
        self.enc_hidden = nn.Linear(data_dim, hidden)
        self.enc_out = nn.Linear(hidden, 2 * latent_dim)  # mean and log-variance
        self.dec_hidden = nn.Linear(latent_dim, hidden)
        self.dec_out = nn.Linear(hidden, data_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.enc_out(F.relu(self.enc_hidden(x))).chunk(2, dim=-1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.dec_out(F.relu(self.dec_hidden(z)))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Negative ELBO per image, averaged over the batch."""
        mean, logvar = self.encode(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        logits = self.decode(z)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
        kl = 0.5 * (mean**2 + logvar.exp() - 1.0 - logvar).sum(-1)
        return (recon + kl).mean()


class ImageDataset(Dataset):
    """One image per index, as a conventional torch Dataset does it."""

    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]


def dataloader_loop(x: torch.Tensor, *, epochs: int, batch_size: int, lr: float,
                    hidden: int, latent_dim: int, seed: int) -> Result:
    """The conventional loop over a shuffling DataLoader; seconds per epoch and the last
    epoch's mean training loss per image."""
    torch.manual_seed(seed)
    model = MLPVAE(x.shape[1], hidden, latent_dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(ImageDataset(x), batch_size=batch_size, shuffle=True)
    result = Result("DataLoader loop")
    for _ in range(epochs):
        started = time.perf_counter()
        total = 0.0
        for batch in loader:
            loss = model.loss(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * batch.shape[0]
        result.epoch_seconds.append(time.perf_counter() - started)
        result.final_loss = total / x.shape[0]
    return result


def pythae_trainer(x: torch.Tensor, *, epochs: int, batch_size: int, lr: float,
                   hidden: int, latent_dim: int, seed: int) -> Result:
    """pythae's BaseTrainer on the same MLP. Returns a skipped Result, with the reason,
    when pythae is not installed or does not run with this torch."""
    try:
        from pythae.data.datasets import BaseDataset
        from pythae.models import VAE, VAEConfig
        from pythae.models.base.base_utils import ModelOutput
        from pythae.models.nn import BaseDecoder, BaseEncoder
        from pythae.trainers import BaseTrainer, BaseTrainerConfig
        from pythae.trainers.training_callbacks import TrainingCallback
    except Exception as err:  # ImportError, or pythae failing against this torch
        return Result("pythae", skipped=f"pythae not usable ({type(err).__name__}: {err}); "
                                         "install it with `pip install -e '.[bench]'`")

    data_dim = x.shape[1]

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(data_dim, hidden)
            self.out = nn.Linear(hidden, 2 * latent_dim)

        def forward(self, inputs: torch.Tensor) -> ModelOutput:
            mean, logvar = self.out(F.relu(self.hidden(inputs))).chunk(2, dim=-1)
            return ModelOutput(embedding=mean, log_covariance=logvar)

    class Decoder(BaseDecoder):
        """pythae's "bce" loss takes probabilities, hence the sigmoid."""

        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(latent_dim, hidden)
            self.out = nn.Linear(hidden, data_dim)

        def forward(self, z: torch.Tensor) -> ModelOutput:
            return ModelOutput(reconstruction=torch.sigmoid(self.out(F.relu(self.hidden(z)))))

    class EpochTimer(TrainingCallback):
        def __init__(self, result: Result):
            self.result = result
            self.started = 0.0

        def on_epoch_begin(self, training_config, **kwargs):
            self.started = time.perf_counter()

        def on_epoch_end(self, training_config, **kwargs):
            self.result.epoch_seconds.append(time.perf_counter() - self.started)

        def on_log(self, training_config, logs, **kwargs):
            # pythae's epoch loss is the mean of the batch means (the short last batch
            # weighs as much as a full one); close to the per-image mean.
            self.result.final_loss = float(logs["train_epoch_loss"])

    result = Result("pythae")
    # Quiet pythae's INFO logging (train_speed.py quiets its progress bars).
    logging.getLogger("pythae").setLevel(logging.WARNING)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("pythae"):
            logging.getLogger(name).setLevel(logging.WARNING)
    torch.manual_seed(seed)
    model = VAE(VAEConfig(input_dim=(data_dim,), latent_dim=latent_dim,
                          reconstruction_loss="bce"), encoder=Encoder(), decoder=Decoder())
    with tempfile.TemporaryDirectory() as out:
        config = BaseTrainerConfig(output_dir=out, num_epochs=epochs, learning_rate=lr,
                                   per_device_train_batch_size=batch_size,
                                   optimizer_cls="Adam", seed=seed, no_cuda=True)
        try:
            trainer = BaseTrainer(model, BaseDataset(x, torch.zeros(x.shape[0])),
                                  training_config=config, callbacks=[EpochTimer(result)])
            trainer.train()
        except Exception as err:  # pythae broken against this torch: say so, go on
            return Result("pythae", skipped=f"pythae failed ({type(err).__name__}: {err})")
    return result
