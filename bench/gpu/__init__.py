"""``python -m bench.gpu`` (``nox -s gpu``): one command for a GPU machine.

The latency of ``bilayer.paper`` and ``fomm.vox256`` in float32, float16 and bfloat16, eager and ``torch.compile``,
batch 1 and 8 (:mod:`.matrix`: a latency record per configuration, both models in it), then the default evaluation
run on the same device (:mod:`.default_run`), all in one folder (default ``reports/gpu/``): the records, one table
(:mod:`.tables`, Markdown and CSV), a figure (:mod:`.figure`) and a README (:mod:`.readme`) saying device,
versions, date, what ran and how long it took. ``--device cpu`` is the dry run of the same code with the tiny models
(:mod:`.cli` says what it leaves out). Importing this package imports nothing else.
"""
