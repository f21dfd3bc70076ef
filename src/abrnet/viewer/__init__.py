"""`abrnet serve`: a browser viewer where a clinician checks, corrects and reports the model's reading of a file.

Its own layer just below the CLI: it imports inference, data and constants (nothing from training or evaluation),
and only `abrnet.cli.serve` imports it, so `abrnet --help` never loads FastAPI or torch.
"""
