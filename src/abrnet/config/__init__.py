"""The validated run configuration (YAML → strict pydantic tree) of training, model preset, loss and curriculum."""
