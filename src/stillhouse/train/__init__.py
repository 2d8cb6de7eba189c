"""Student training (SPEC §1.5): supervised fine-tuning with LoRA or full weights, one loop.

``run_training(TrainConfig(...))`` validates hyperparameters and data, trains with assistant-only
loss, checkpoints (resumable), and writes Bedrock-style metrics and a transformers-loadable model.
Importing this package does not import torch; the loop imports it when it runs.
"""

from stillhouse.train.config import TrainConfig, TrainResult
from stillhouse.train.hparams import Hyperparameters, parse_hyperparameters
from stillhouse.train.loop import run_training
from stillhouse.train.losses import LossFn, token_cross_entropy

__all__ = [
    "Hyperparameters",
    "LossFn",
    "TrainConfig",
    "TrainResult",
    "parse_hyperparameters",
    "run_training",
    "token_cross_entropy",
]
