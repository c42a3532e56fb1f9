"""A convolutional GRU cell whose hidden state is passed in and returned explicitly."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ConvGRUCell(nn.Module):
    """``forward(x (B, C_in, h, w), state (B, C_h, h, w) | None) -> new state (B, C_h, h, w)``.

    ``None`` is the zero state (a clip or a person's first frame).
    """

    def __init__(self, input_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        padding = kernel_size // 2
        self.gates = nn.Conv2d(input_channels + hidden_channels, 2 * hidden_channels, kernel_size, padding=padding)
        self.candidate = nn.Conv2d(input_channels + hidden_channels, hidden_channels, kernel_size, padding=padding)

    def forward(self, x: Tensor, state: Tensor | None) -> Tensor:
        if state is None:
            state = x.new_zeros(x.shape[0], self.hidden_channels, *x.shape[2:])
        update, reset = torch.sigmoid(self.gates(torch.cat([x, state], 1))).chunk(2, 1)
        candidate = torch.tanh(self.candidate(torch.cat([x, reset * state], 1)))
        return (1 - update) * state + update * candidate
