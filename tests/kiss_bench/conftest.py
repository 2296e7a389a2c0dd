"""Test settings for kiss-bench: one torch thread, because the test machines share few cores."""

import torch

torch.set_num_threads(1)
