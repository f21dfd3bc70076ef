"""The diffusion process written once: the cosine noise schedule, x̂0 / ε / v conversions and the samplers.

Like diffusers' schedulers, the schedule owns the prediction type; networks and training only call it.
"""
