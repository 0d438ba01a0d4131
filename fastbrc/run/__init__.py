"""The run shell around the learner: the training loop and its hooks (``runner``), checkpoints,
logging, the memory check, the run-directory lock, policy loading, transfer, render, plot and
the command-line helpers (``args``). May import every layer below it; nothing imports it but
`fastbrc.cli` (and tests and benchmarks)."""
