"""The peers harness: fastbrc against Brax SAC, Brax PPO and FastTD3 for the same wall-clock
budget (``python benchmarks/peers.py``), and several of its reports judged together
(``python benchmarks/peers_seeds.py``). Those two scripts are entry points; the parts are here:

``protocol``
    What is measured and how it is judged: the evaluation protocol, the definitions recorded in
    every report, the per-curve summary, the threshold and target rules, the runs of a report.
``cli``
    ``peers.py``'s arguments.
``orchestrate``
    The parent: one fresh process per trainer in its own interpreter, the report rewritten
    after each.
``worker``, ``fastbrc_trainer``, ``brax_trainers``, ``fasttd3_trainer``
    One trainer in that process (``peers.py --worker SPEC``). These run under three
    interpreters (this repository's, the peers' own with jax 0.9.2 and Brax, FastTD3's with
    torch), so they import only the standard library, the harness and ``benchmarks/common.py``
    at module level, and each trainer's packages inside its function.
``report``
    The report's Markdown table and its JSON and PNG files.
``plot``
    The two figures (one report, several seeds), drawn by ``benchmarks/curves.py``.
``combine``
    ``peers_seeds.py``: reports of separate invocations as one set of seeds.
"""
