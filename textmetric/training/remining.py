"""Hard negatives mined again during training by the model being trained (ANCE, Xiong et al., ICLR 2021).

Negatives mined once by the starting model grow easy as the model learns them; mined again before
each epoch, they stay the documents the model ranks wrongly now.
"""

from __future__ import annotations

import math
import time

from transformers import TrainerCallback

from .training_set import TrainingSet

__all__ = ["Remining"]


class Remining(TrainerCallback):
    """A trainer callback: before every epoch after the first, the training set's negatives are mined again
    by ``model`` (``TrainingSet.remine``, the same mining function as at the start).

    The training set's rows are replaced in place; its live dataset (``TrainingSet.dataset``) hands the new
    rows to the batch sampler and the data loader from then on. ``history`` records each re-mining.
    """

    def __init__(self, training: TrainingSet, model) -> None:
        self.training, self.model = training, model
        self.mined_after = 0  # the epochs whose weights mined the current rows
        self.history: list[dict] = []

    def on_epoch_begin(self, args, state, control, **kwargs):
        done = math.floor((state.epoch or 0) + 1e-9)  # epochs completed (a resumed run may start part-way)
        if done <= self.mined_after:
            return control
        start = time.perf_counter()
        was_training = self.model.training
        self.model.eval()
        try:
            rows = self.training.remine(self.model, done)
        finally:
            self.model.train(was_training)
        changed = sum(old != new for old, new in zip(self.training.rows, rows))
        self.training.rows = rows
        self.mined_after = done
        self.history.append({"epoch": done, "changed_rows": changed, "rows": len(rows),
                             "seconds": time.perf_counter() - start})
        return control
