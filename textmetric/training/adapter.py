"""A linear metric on a frozen encoder: a learned map W, so that ``d(x, y) = ‖W(x − y)‖``.

This is a Mahalanobis metric (M = WᵀW) in the encoder's space, the classic form of metric
learning (Xing et al., 2002; Weinberger and Saul, 2009). Only W is trained, on embeddings
encoded once, so training takes seconds; the saved model is the encoder followed by a
bias-free linear layer, and an index built with the encoder can be re-projected by W
without re-encoding.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..errors import InputError
from ..encoding import Encoder, recorded_prompts, weights_fingerprint
from .divergence import check_loss

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

    from ..index import Index

__all__ = ["LinearAdapter", "train_linear_adapter", "attach_adapter", "adapter_matrix", "reproject_index"]


class LinearAdapter:
    """W as a matrix (out x in), trained from cached embeddings with any textmetric loss."""

    def __init__(self, weight: "torch.Tensor") -> None:
        self.weight = weight

    def __call__(self, embeddings: "torch.Tensor") -> "torch.Tensor":
        return embeddings @ self.weight.T

    def project(self, embeddings: np.ndarray) -> np.ndarray:
        """W·x for each row, as float32."""
        return np.ascontiguousarray(embeddings @ self.weight.detach().cpu().numpy().T, dtype=np.float32)


def train_linear_adapter(columns: Sequence[np.ndarray], labels: np.ndarray | None, loss, *, epochs: int = 20,
                         lr: float = 1e-3, batch_size: int = 64, seed: int = 42, dev=None,
                         progress: bool = False, keep_last: bool = False) -> tuple[LinearAdapter, list[dict]]:
    """Learn W (from the identity) so that ``loss`` over the projected embedding columns falls.

    ``columns`` are the per-row embeddings of each text column the loss reads, ``labels``
    its label column (or None). ``dev`` is called with the adapter after every epoch and
    returns a dict of dev scores (with a ``score`` key); the best epoch's W is kept, the identity
    (the start) when no epoch beats it, and the last epoch's with ``keep_last``.
    """
    import torch
    from tqdm.auto import tqdm

    generator = torch.Generator().manual_seed(seed)
    tensors = [torch.as_tensor(np.asarray(c), dtype=torch.float32) for c in columns]
    label_tensor = None if labels is None else torch.as_tensor(np.asarray(labels))
    dim = tensors[0].shape[1]
    weight = torch.nn.Parameter(torch.eye(dim))
    optimiser = torch.optim.Adam([weight], lr=lr)
    adapter = LinearAdapter(weight)
    history: list[dict] = []
    best_score, best_weight = -np.inf, weight.detach().clone()
    if dev is not None:
        initial = dev(LinearAdapter(weight.detach()))
        history.append({"epoch": 0, **initial})
        best_score = initial["score"]
    n = len(tensors[0])
    step = 0
    for epoch in tqdm(range(1, epochs + 1), desc="adapter", unit="epoch", disable=not progress):
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, batch_size):
            batch = order[start:start + batch_size]
            projected = [adapter(t[batch]) for t in tensors]
            value = loss.compute_loss_from_embeddings(projected, None if label_tensor is None else label_tensor[batch])
            step += 1
            check_loss(value, step, lr)
            optimiser.zero_grad()
            value.backward()
            optimiser.step()
            total += float(value.detach()) * len(batch)
        record = {"epoch": epoch, "loss": total / n}
        if dev is not None:
            record.update(dev(LinearAdapter(weight.detach())))
            if record["score"] > best_score or keep_last:
                best_score, best_weight = record["score"], weight.detach().clone()
        else:
            best_weight = weight.detach().clone()
        history.append(record)
    return LinearAdapter(best_weight), history


def attach_adapter(model: "SentenceTransformer", adapter: LinearAdapter) -> "SentenceTransformer":
    """The encoder followed by the bias-free linear layer W, comparing by Euclidean distance."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense

    weight = adapter.weight.detach().clone()
    dense = Dense(weight.shape[1], weight.shape[0], bias=False, activation_function=torch.nn.Identity(),
                  init_weight=weight)
    modules = [module for module in model] + [dense]
    combined = SentenceTransformer(modules=modules, device=str(model.device), similarity_fn_name="euclidean",
                                   prompts=dict(model.prompts), default_prompt_name=model.default_prompt_name)
    combined.max_seq_length = model.max_seq_length
    return combined


def adapter_matrix(model: "SentenceTransformer") -> np.ndarray:
    """W of a model whose last module is the adapter's linear layer (out x in)."""
    from sentence_transformers.sentence_transformer.modules import Dense

    last = model[len(model) - 1]
    if not isinstance(last, Dense) or last.linear.bias is not None:
        raise InputError("the model does not end in a linear adapter (a bias-free Dense layer)")
    return last.linear.weight.detach().cpu().numpy().astype(np.float32)


def reproject_index(index: "Index", adapted: "SentenceTransformer", output: str | os.PathLike,
                    adapted_name: str | os.PathLike | None = None) -> "Index":
    """A new index whose vectors are W·x of ``index``'s, in the l2 space of ``d = ‖W(x − y)‖``: no re-encoding.

    Exact when the index stores the encoder's own outputs: a model that normalises its
    embeddings (as all-MiniLM-L6-v2 does), or an ``ip``/``l2`` index.
    """
    from sentence_transformers import SentenceTransformer

    from ..index import Index
    from ..index.shards import ShardedIndex

    if isinstance(index, ShardedIndex):  # what Index.load gives for a collection folder
        raise InputError(f"the index is a collection of {len(index.shards)} shards: reproject takes one index folder "
                         f"(one of its shards)")
    weight = adapter_matrix(adapted)
    base = SentenceTransformer(modules=[m for m in adapted][:-1], device=str(adapted.device))
    recorded = (index.model or {}).get("weights_sha256")
    if recorded is not None and weights_fingerprint(base) != recorded:
        raise InputError("the adapter sits on another encoder than the one this index was built with")
    if weight.shape[1] != index.dim:
        raise InputError(f"the adapter maps {weight.shape[1]}-d vectors but the index holds {index.dim}-d ones")
    ids = index.ids
    projected = index.embeddings(ids) @ weight.T
    # the vectors were encoded with the index's prompts: searching the new index needs them too
    identity = Encoder(adapted, prompts=recorded_prompts(index.model)).identity(adapted_name)
    fresh = Index(weight.shape[0], "l2", model=identity, m=index.m, ef_construction=index.ef_construction,
                  ef=index.ef, capacity=max(len(ids), 1))
    if ids:
        fresh.add(ids, projected, [index.document(d) for d in ids])
    fresh.save(output)
    return fresh
