"""Training: metric-learning losses, hard-negative mining, fine-tuning and the linear adapter.

``losses/`` holds one module per loss and the registry of their specs (``losses.registry``),
``distances`` the distances the margin losses take, ``miners`` the in-batch triplet miners,
``mining`` hard negatives from an index, ``trainer`` :func:`fine_tune`, and ``adapter`` the
linear map W trained on a frozen encoder. Nothing is imported here, so that reading the
registry (as the CLI does for its option choices) does not load torch.
"""
