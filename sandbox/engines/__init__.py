"""Training and evaluation engines.

Each engine runs as a standalone subprocess inside the sandbox (`python -m sandbox.engines.train
SPEC.json OUTPUT_DIR`, likewise `evaluate`). They import torch, transformers, peft, safetensors, the
standard library and this package only: never Django, never the database. They talk to the supervisor
through JSON lines on stdout (see `common.emit`) and through files in OUTPUT_DIR.

Nothing heavy is imported here, so that `import sandbox.engines.common` stays cheap for callers that
only need the helpers.
"""
