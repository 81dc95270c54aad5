"""``ikkuna.utils``, ``ikkuna.models`` and ``ikkuna.visualization`` at their unitrain paths."""

from __future__ import annotations

import importlib
import os
import random
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from unitrain.compat.ikkuna import models, visualization
from unitrain.compat.ikkuna.utils import (
    DatasetMeta,
    ModuleTree,
    NamedModule,
    create_optimizer,
    freeze_module,
    get_model,
    initialize_model,
    load_dataset,
    seed_everything,
)
from unitrain.errors import ConfigError


def test_module_tree_names_modules_as_ikkuna_did() -> None:
    model = models.AlexNetMini((12, 12, 1), num_classes=3)
    assert [name for _, name in ModuleTree(model).preorder()] == [
        "/features/conv2d0", "/features/relu0", "/features/conv2d1", "/features/relu1",
        "/features/maxpool2d0", "/classifier/dropout0", "/classifier/linear0",
        "/classifier/relu0", "/classifier/dropout1", "/classifier/linear1",
    ]  # fmt: skip
    assert [name for _, name in ModuleTree(model).preorder(depth=1)] == ["/features", "/classifier"]
    module, name = next(ModuleTree(model).preorder())
    assert module is model.features[0] and name == "/features/conv2d0"
    assert NamedModule(module, name) == (module, name)


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "shape"),
    [
        ("AlexNetMini", ((28, 28, 1),), {"num_classes": 10}, (2, 1, 28, 28)),
        ("FullyConnectedModel", ((8, 8),), {"num_classes": 3, "hidden": 16}, (2, 1, 8, 8)),
        ("VGG", ((32, 32, 3),), {"num_classes": 10}, (2, 3, 32, 32)),
        ("DenseNet", ((32, 32, 3),), {"block_config": (2, 2, 2), "num_classes": 7}, (2, 3, 32, 32)),
        ("ResNet18", (), {"num_classes": 5}, (2, 3, 32, 32)),
    ],
)
def test_get_model_builds_each_model(
    name: str, args: tuple[object, ...], kwargs: dict[str, object], shape: tuple[int, ...]
) -> None:
    model = get_model(name, *args, **kwargs)
    classes = int(kwargs["num_classes"])  # type: ignore[call-overload]
    assert model(torch.randn(*shape)).shape == (shape[0], classes)
    with pytest.raises(ValueError, match="unknown model"):
        get_model("NoSuchNet")


def test_models_hand_themselves_to_an_exporter() -> None:
    from unitrain.compat.ikkuna.export import Exporter
    from unitrain.compat.ikkuna.export.messages import MessageBus

    exporter = Exporter(depth=-1, module_filter=[nn.Conv2d], message_bus=MessageBus("models"))
    model = models.AlexNetMini((12, 12, 1), num_classes=3, exporter=exporter)
    assert [n.name for n in exporter.named_modules] == ["/features/conv2d0", "/features/conv2d1"]
    assert exporter._model is model
    exporter.close()


def test_seeding_optimizers_and_initialisation() -> None:
    seed_everything(5)
    first = (random.random(), torch.rand(()).item())
    seed_everything(5)
    assert (random.random(), torch.rand(()).item()) == first
    assert os.environ["PYTHONHASHSEED"] == "5"
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    freeze_module(model[0])
    optimizer = create_optimizer(model, "SGD", lr=0.5)
    assert [p for g in optimizer.param_groups for p in g["params"]] == list(model[1].parameters())
    with pytest.raises(ValueError, match="unknown optimizer"):
        create_optimizer(model, "Nope")
    alexnet = models.AlexNetMini((8, 8, 1), num_classes=2)
    initialize_model(alexnet, bias_val=0.25)
    assert torch.all(alexnet.features[0].bias == 0.25)
    with pytest.raises(ValueError, match="initialise"):
        initialize_model(model)


def test_dataset_meta_and_load_dataset_without_torchvision() -> None:
    meta = DatasetMeta(dataset=[0] * 7, num_classes=2, shape=(7, 4, 4, 1))
    assert meta.size == 7 and meta.num_classes == 2
    if importlib.util.find_spec("torchvision") is not None:
        pytest.skip("torchvision is installed here")
    with pytest.raises(ConfigError, match="torchvision"):
        load_dataset("MNIST")


def test_tensorboard_backend_layout_and_prefix(tmp_path: Path) -> None:
    visualization.configure_prefix(str(tmp_path / "logs"))
    visualization.set_run_info("lr=0.1")
    try:
        backend = visualization.get_backend("tb", {"title": "norms"})
        backend.add_data("/features/conv2d0", torch.tensor(2.5), 3)
        backend.add_histogram("/features/conv2d0", torch.arange(10.0), 3)
        backend.flush()  # type: ignore[attr-defined]
    finally:
        visualization.configure_prefix(None)
        visualization.set_run_info("n/a")
    run = tmp_path / "logs" / "run0"
    scalars = EventAccumulator(str(run / "norms_" / "features" / "conv2d0"))
    scalars.Reload()
    assert [(e.step, e.value) for e in scalars.Scalars("norms")] == [(3, 2.5)]
    everything = EventAccumulator(str(run), size_guidance={"histograms": 0, "tensors": 0})
    everything.Reload()
    (histogram,) = everything.Histograms("norms: /features/conv2d0")
    assert histogram.histogram_value.num == 10 and histogram.histogram_value.max == 9
    (text,) = everything.Tensors("run_conf/text_summary")
    assert text.tensor_proto.string_val == [b"lr=0.1"]
    assert isinstance(visualization.get_backend(None, {}), visualization.NullBackend)
    with pytest.raises(ValueError, match="backend must be"):
        visualization.get_backend("svg", {})


def test_without_tensorboard_the_default_plots_nothing_and_explicit_tb_fails() -> None:
    import subprocess
    import sys

    code = (
        "import sys, warnings\n"
        "sys.modules['tensorboard'] = None\n"  # as if not installed
        "from unitrain.compat.ikkuna import NormSubscriber, MessageBus\n"
        "from unitrain.compat.ikkuna.visualization import NullBackend\n"
        "from unitrain.errors import ConfigError\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    sub = NormSubscriber('weights', message_bus=MessageBus('a'))\n"
        "    NormSubscriber('weights', message_bus=MessageBus('b'))\n"
        "assert isinstance(sub.backend, NullBackend)\n"
        "assert len(caught) == 1 and 'tensorboard' in str(caught[0].message)\n"
        "try:\n"
        "    NormSubscriber('weights', message_bus=MessageBus('c'), backend='tb')\n"
        "except ConfigError as error:\n"
        "    assert 'unitrain[tensorboard]' in str(error)\n"
        "else:\n"
        "    raise AssertionError('explicit tb without tensorboard must fail')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
