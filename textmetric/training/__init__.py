"""Training: metric-learning losses, hard-negative mining, fine-tuning and the linear adapter.

``losses/`` holds one module per loss and the registry of their specs (``losses.registry``),
``distances`` the distances the margin losses take, ``miners`` the in-batch triplet miners,
``mining`` hard negatives from an index, ``config`` :class:`TrainConfig` and its defaults,
``rows`` and ``training_set`` the rows a loss trains on and the dev split, ``trainer``
:func:`fine_tune`, and ``adapter`` the linear map W trained on a frozen encoder. Nothing is
imported here, so that reading the registry or the defaults (as the CLI does for its options)
does not load torch.
"""
