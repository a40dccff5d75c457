"""Fine-tuning LiteMedSAM's mask decoder on phantom femoral cartilage, on CPU."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.labels import KneeLabel
from msklabel.segment import LabelPrompt, Segmenter, load_backend
from msklabel.segment.finetune import FinetuneConfig, TrainingSlices, finetune
from msklabel.volume import Volume

CARTILAGE = KneeLabel.FEMORAL_CARTILAGE
#: Required gain in mean Dice over zero-shot on the held-out slices.
MARGIN = 0.3


@pytest.mark.slow
def test_finetuned_decoder_beats_zero_shot_and_reloads(
    litemedsam, knee_phantom, held_out_phantom, tmp_path, truth_box, dice
):
    # train on six cartilage slices of one phantom, test on two others of another (other noise)
    present = np.flatnonzero((knee_phantom.labels.array == CARTILAGE).sum(axis=(1, 2)) >= 100)
    train_slices = present[:: max(len(present) // 6, 2)][:6].tolist()
    test_slices = [k for k in present.tolist() if k not in train_slices][1::3][:2]
    image = knee_phantom.echoes[0]
    cases = [
        (
            Volume(image.array[train_slices], image.affine),
            Volume(knee_phantom.labels.array[train_slices], image.affine),
        )
    ]
    training = TrainingSlices.collect(cases, [CARTILAGE])
    session = Segmenter(litemedsam).session(held_out_phantom.echoes[0])
    embeddings = session.embeddings(test_slices)  # the encoder stays frozen
    labels = held_out_phantom.labels.array

    def mean_dice(backend) -> tuple[float, list]:
        scores, logits = [], []
        for index, embedding in zip(test_slices, embeddings, strict=True):
            prompt = LabelPrompt(CARTILAGE, boxes=[truth_box(labels, CARTILAGE, index)])
            result = backend.decode(embedding, prompt.on_slice(index), labels.shape[1:])
            scores.append(dice(result.mask, labels[index] == CARTILAGE))
            logits.append(result.logits)
        return float(np.mean(scores)), logits

    zero_shot, _ = mean_dice(litemedsam)
    checkpoint = tmp_path / "litemedsam_cartilage.pth"
    config = FinetuneConfig(steps=12, batch_size=2, learning_rate=3e-4)
    trained = finetune(litemedsam, training, checkpoint, config)
    tuned, tuned_logits = mean_dice(trained)
    print(f"femoral cartilage Dice: zero-shot {zero_shot:.3f}, fine-tuned {tuned:.3f}")
    assert tuned >= zero_shot + MARGIN

    reloaded = load_backend("litemedsam", checkpoint=checkpoint)
    assert reloaded.model_id == trained.model_id != litemedsam.model_id
    _, reloaded_logits = mean_dice(reloaded)
    for expected, found in zip(tuned_logits, reloaded_logits, strict=True):
        np.testing.assert_allclose(found, expected, atol=1e-4)
