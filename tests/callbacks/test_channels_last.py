"""ChannelsLast: the module trains in NHWC memory order, with the same values."""
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from callbacks.channels_last import ChannelsLast
from experiments.bench import _RandomPairs
from experiments.config_library import build_model


def _train(callbacks) -> pl.LightningModule:
    torch.manual_seed(0)
    module = build_model("siamrpnpp/demo")
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=2, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks,
                         num_sanity_val_steps=0, limit_val_batches=0)
    trainer.fit(module, DataLoader(_RandomPairs(module.training_crops(), 2, 2), batch_size=None))
    return module


def convolution_weights(module):
    return [m.weight for m in module.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.shape[-1] > 1]


def test_the_module_trains_channels_last_to_the_same_weights():
    plain, nhwc = _train([]), _train([ChannelsLast(cpu=True)])
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in convolution_weights(nhwc))
    assert not all(w.is_contiguous(memory_format=torch.channels_last) for w in convolution_weights(plain))
    for (name, a), b in zip(plain.state_dict().items(), nhwc.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=name)
    # on a CPU without cpu=True nothing is converted
    untouched = _train([ChannelsLast()])
    assert not all(w.is_contiguous(memory_format=torch.channels_last) for w in convolution_weights(untouched))
