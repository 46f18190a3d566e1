"""Weights for the pruning tests whose magnitudes are all different, so that "the k smallest" is
unambiguous."""

import torch

from course_lib import prune


def with_distinct_weights(model, seed=0):
    """``model`` with conv and linear weights of distinct magnitudes and random signs."""
    generator = torch.Generator().manual_seed(seed)
    layers = prune.weight_layers(model).values()
    total = sum(m.weight.numel() for m in layers)
    magnitudes = (torch.randperm(total, generator=generator).float() + 1) / total
    signs = torch.where(torch.rand(total, generator=generator) < 0.5, -1.0, 1.0)
    values = (magnitudes * signs).split([m.weight.numel() for m in layers])
    with torch.no_grad():
        for module, value in zip(layers, values, strict=True):
            module.weight.copy_(value.view_as(module.weight))
    return model
