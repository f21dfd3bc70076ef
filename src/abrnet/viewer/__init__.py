"""`abrnet serve`: a browser viewer where a clinician checks, corrects and reports the model's reading of a file.

At the CLI's level of the layering: it may import anything below (inference, evaluation, data), and only
`abrnet.cli.serve` imports it, so `abrnet --help` never loads FastAPI or torch.
"""
