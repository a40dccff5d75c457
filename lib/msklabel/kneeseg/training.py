"""Training the knee segmentation network on images synthesised from label maps (on the CPU),
the network on the chosen device (:mod:`msklabel.device`)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from tqdm import tqdm

from msklabel.detect.synth import LabelledSeries
from msklabel.device import bf16_pays, mixed_precision, resolve_device
from msklabel.kneeseg.bank import ImageBank, LabelBank
from msklabel.kneeseg.classes import SegClass
from msklabel.kneeseg.network import KneeSegmenter
from msklabel.kneeseg.synth import synthesise
from msklabel.volume import Volume

log = logging.getLogger(__name__)

#: Called after each step with (step, steps, loss).
ProgressCallback = Callable[[int, int, float], None]
#: The one-cycle learning-rate schedule needs this many steps.
MIN_STEPS = 20


@dataclass(frozen=True)
class TrainConfig:
    """How long and how the network trains."""

    steps: int = 4000
    batch_size: int = 8
    learning_rate: float = 2e-3
    seed: int = 0
    widths: tuple[int, ...] = (16, 32, 64, 128, 256)
    residual_units: int = 2
    #: Run the network in bfloat16 (autocast) during training where the device has bf16
    #: arithmetic (:func:`~msklabel.device.bf16_pays`): about twice as fast on CPUs with
    #: AVX-512 BF16 and on recent GPUs; elsewhere bf16 is emulated, slower than fp32, and the
    #: network trains in fp32. The weights stay float32 either way.
    bfloat16: bool = True

    def __post_init__(self) -> None:
        if self.steps < MIN_STEPS or self.batch_size < 1:
            raise ValueError(f"training needs at least {MIN_STEPS} steps of at least one image")


def segmentation_loss(
    logits: torch.Tensor, targets: torch.Tensor, known: torch.Tensor
) -> torch.Tensor:
    """Soft cross-entropy plus soft Dice of ``[n, C, H, W]`` logits against class shares.

    Where an image's label map does not know a class (``known`` ``[n, C]`` False), that class
    and the background are one outcome: their probabilities are summed before the loss
    (a marginal loss), so a label map without menisci teaches nothing about menisci.
    """
    merged = (~known).clone()
    merged[:, SegClass.BACKGROUND] = True
    log_p = F.log_softmax(logits.float(), 1)
    background = torch.logsumexp(
        log_p.masked_fill(~merged[:, :, None, None], -math.inf), 1, keepdim=True
    )
    log_p = torch.cat([background, log_p[:, 1:]], 1)
    weights = known.float()[:, :, None, None]
    cross_entropy = -(targets * log_p * weights).sum(1).mean()

    probability = log_p.exp() * weights
    target = targets * weights
    dims = (0, 2, 3)
    overlap = (probability * target).sum(dims)
    total = probability.sum(dims) + target.sum(dims)
    present = target.sum(dims) > 0
    dice = 1 - (2 * overlap + 1) / (total + 1)
    foreground = present.clone()
    foreground[SegClass.BACKGROUND] = False
    dice_loss = dice[foreground].mean() if bool(foreground.any()) else dice.sum() * 0
    return cross_entropy + dice_loss


def train_segmenter(
    volumes: Iterable[Volume],
    config: TrainConfig = TrainConfig(),
    progress: bool = True,
    callback: ProgressCallback | None = None,
    images: Sequence[LabelledSeries] = (),
    initial: KneeSegmenter | None = None,
    device: str | torch.device = "auto",
) -> KneeSegmenter:
    """Train the network on label ``volumes`` (values of :class:`~msklabel.labels.KneeLabel`,
    12 for the fibula; others are plain tissue), from images synthesised on the fly.

    ``images`` are label maps with the images they label (their label maps are synthesised
    from too): half of every batch is then those real images. ``initial`` is a network to
    fine-tune (a copy; default: a new one). The same ``config.seed`` gives the same weights
    on the same machine, torch build, thread count and device. Progress is shown with tqdm
    (``progress``) and reported to ``callback``. The network trains on ``device``.
    """
    bank = LabelBank.of([*volumes, *(item.labels for item in images)])
    if len(bank) == 0:
        raise ValueError("no label volumes to train on")
    imaged = ImageBank.of(images)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    if initial is None:
        segmenter = KneeSegmenter.new(config.widths, config.residual_units)
    else:
        segmenter = initial.copy()
    device = resolve_device(device)
    network = segmenter.network.to(device)
    optimiser = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.learning_rate, total_steps=config.steps, pct_start=0.1
    )
    precision = "bf16" if config.bfloat16 and bf16_pays(device) else "fp32"
    network.train()
    started = time.perf_counter()
    bar = tqdm(range(config.steps), desc="training segmenter", unit="step", disable=not progress)
    running = math.nan
    for step in bar:
        batch = synthesise(bank, config.batch_size, generator, imaged)
        with mixed_precision(device, precision):
            logits = network(batch.images.to(device))
        loss = segmentation_loss(logits, batch.targets.to(device), batch.known.to(device))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        value = float(loss.detach())
        running = value if math.isnan(running) else 0.98 * running + 0.02 * value
        bar.set_postfix(loss=f"{running:.3f}")
        if callback is not None:
            callback(step + 1, config.steps, value)
    network.eval()
    segmenter.info = {
        "config": asdict(config),
        "initial": initial.model_id if initial is not None else None,
        "slices": len(bank),
        "imaged_slices": len(imaged),
        "final_loss": round(running, 4),
        "seconds": round(time.perf_counter() - started, 1),
        "torch": str(torch.__version__),
        "device": str(device),
        "precision": precision,
    }
    log.info("trained the segmenter: %s", segmenter.info)
    return segmenter
