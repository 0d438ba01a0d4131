"""Pure JAX pieces of fastbrc: no config, no I/O, nothing else of fastbrc but `fastbrc.errors`.

``distributional`` (support, C51 projection, HL-Gauss), ``losses`` (categorical TD and actor
losses), ``replay`` (per-env ring buffer, n-step batches), ``normalization`` (observation
statistics), ``reward_norm`` (per-task reward statistics), ``networks`` (BroNet, critics, TD3
actors, task embeddings), ``sac`` (tanh-Gaussian actor and SAC's losses), ``parallel``
(sharding helpers).
"""
