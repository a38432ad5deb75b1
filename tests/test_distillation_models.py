"""``--student`` / ``--assistant`` / ``--teacher`` specs (hfnet.distillation.models): zoo, timm and saved models."""

import logging

import pytest
import timm
import torch

from hfnet.distillation.models import _parse_kwargs, load_model_spec
from hfnet.errors import HfnetError
from hfnet.zoo import tiny_resnet, tiny_vit

NAMES = ["cat", "dog", "bird"]
WORDS = [f"digit {i}" for i in range(10)]


def _same_weights(a, b):
    sa, sb = a.model.state_dict(), b.model.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_options_are_typed_like_the_command_line_means_them():
    assert _parse_kwargs("") == {}
    assert _parse_kwargs("hidden_sizes=8x16, depth=2,,drop_rate=0.5,act=gelu,tag=a=b,flag=x") == {
        "hidden_sizes": (8, 16),
        "depth": 2,
        "drop_rate": 0.5,
        "act": "gelu",
        "tag": "a=b",  # only the first '=' separates the key
        "flag": "x",  # not a size: no digits around the x
    }
    assert type(_parse_kwargs("n=3")["n"]) is int and type(_parse_kwargs("r=3.0")["r"]) is float


def test_an_option_without_a_value_names_the_form():
    with pytest.raises(HfnetError) as err:
        _parse_kwargs("hidden_size=32,depth")
    assert str(err.value) == "model option 'depth' must look like key=value (e.g. zoo:tiny_vit:hidden_size=32)"


def test_zoo_specs_build_the_zoo_model_with_the_options_image_size_and_seed():
    student = load_model_spec("zoo:tiny_resnet:embedding_size=8,hidden_sizes=8x16", NAMES, image_size=16)
    assert student.class_names == NAMES and student.config.hidden_sizes == [8, 16]
    assert student.preprocessing.image_size == (16, 16)
    # the default seed is 0: the same init as the zoo function's own default
    assert _same_weights(student, tiny_resnet(NAMES, image_size=16, embedding_size=8, hidden_sizes=(8, 16), seed=0))
    other = load_model_spec("zoo:tiny_resnet:embedding_size=8,hidden_sizes=8x16", NAMES, seed=3)
    assert _same_weights(other, tiny_resnet(NAMES, embedding_size=8, hidden_sizes=(8, 16), seed=3))
    # without options: the zoo defaults; an image_size among the options wins over the argument
    plain = load_model_spec("zoo:tiny_vit", NAMES)
    assert plain.config.hidden_size == 64 and plain.preprocessing.image_size == (32, 32)
    assert _same_weights(plain, tiny_vit(NAMES))
    sized = load_model_spec("zoo:tiny_vit:image_size=16,hidden_size=32,num_heads=2", NAMES, image_size=24)
    assert sized.preprocessing.image_size == (16, 16) and sized.config.hidden_size == 32


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("zoo", "unknown zoo model in 'zoo'; use one of zoo:tiny_vit, zoo:tiny_resnet"),
        ("zoo:big_vit", "unknown zoo model in 'zoo:big_vit'; use one of zoo:tiny_vit, zoo:tiny_resnet"),
        ("zoo:tiny_resnet:nope=1", "bad option for tiny_resnet: tiny_resnet() got an unexpected keyword argument"),
        ("zoo:tiny_vit:hidden_size=abc", "bad option for tiny_vit: Validation error for field 'hidden_size'"),
        ("timm", "timm models are named timm:NAME, e.g. timm:test_resnet"),
        ("timm:", "timm models are named timm:NAME, e.g. timm:test_resnet"),
        ("timm:no_such_net", "timm cannot build 'no_such_net': Unknown model"),
        ("timm:test_resnet:nope=1", "timm cannot build 'test_resnet': "),
    ],
)
def test_bad_specs_raise_one_hfnet_error(spec, message):
    with pytest.raises(HfnetError) as err:
        load_model_spec(spec, NAMES)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_a_bad_option_is_one_short_line_not_silently_dropped():
    # a ':' instead of ',' between options is not cut off: the rest is part of the first value
    with pytest.raises(HfnetError, match=r"got str \(value: '8:hidden_sizes=8x16'\)"):
        load_model_spec("zoo:tiny_resnet:embedding_size=8:hidden_sizes=8x16", NAMES)
    with pytest.raises(HfnetError) as err:  # a long cause is cut to 200 characters
        load_model_spec("zoo:tiny_vit:hidden_size=" + "a" * 500, NAMES)
    assert str(err.value).startswith("bad option for tiny_vit: Validation error for field 'hidden_size'")
    assert len(str(err.value)) == len("bad option for tiny_vit: ") + 200


def test_timm_specs_build_a_fresh_timm_model_for_the_classes():
    clf = load_model_spec("timm:test_resnet:global_pool=max", NAMES, seed=2)
    assert clf.library == "timm" and clf.num_classes == 3 and clf.class_names == NAMES
    assert clf.source == "timm:test_resnet" and clf.model.global_pool.pool_type == "max"
    torch.manual_seed(2)
    assert _same_weights(clf, type(clf).from_model(timm.create_model("test_resnet", num_classes=3, global_pool="max")))
    # no image_size: timm's own preprocessing
    assert clf.preprocessing.image_size == (160, 160) and clf.preprocessing.crop_pct == 0.95
    torch.manual_seed(0)  # the default seed
    default = load_model_spec("timm:test_resnet", NAMES)
    torch.manual_seed(0)
    assert _same_weights(default, type(clf).from_model(timm.create_model("test_resnet", num_classes=3)))


def test_timm_specs_at_an_image_size_resize_without_a_crop():
    resnet = load_model_spec("timm:test_resnet", NAMES, image_size=24)  # not a ViT: no img_size for it
    pre = resnet.preprocessing
    assert (pre.image_size, pre.mean, pre.std, pre.interpolation, pre.crop_pct) == (
        (24, 24),
        (0.5, 0.5, 0.5),
        (0.5, 0.5, 0.5),
        "bilinear",
        1.0,
    )
    vit = load_model_spec("timm:test_vit", NAMES, image_size=32)  # a ViT is built for that size
    assert vit.model.patch_embed.img_size == (32, 32) and vit.preprocessing.image_size == (32, 32)
    assert vit.preprocessing.interpolation == "bicubic"
    assert vit.logits(torch.zeros(1, 3, 32, 32)).shape == (1, 3)
    own = load_model_spec("timm:test_vit:img_size=16", NAMES, image_size=32)  # an img_size option wins
    assert own.model.patch_embed.img_size == (16, 16)


def test_saved_models_are_loaded_and_must_predict_the_classes(tiny_vit_dir, tiny_timm_dir, tiny_resnet_dir):
    vit = load_model_spec(str(tiny_vit_dir), NAMES)
    assert vit.class_names == NAMES and vit.source == str(tiny_vit_dir)
    assert load_model_spec(str(tiny_timm_dir), NAMES).library == "timm"
    with pytest.raises(HfnetError) as err:
        load_model_spec(str(tiny_vit_dir), ["cat", "dog", "fish"])  # as many classes, other names
    assert str(err.value) == (
        f"{tiny_vit_dir} predicts 3 classes (['cat', 'dog', 'bird']...), not the dataset's 3 (['cat', 'dog', "
        "'fish']...); pass --replace-student-head to give it a fresh head"
    )
    with pytest.raises(HfnetError) as err:  # the first five names of each
        load_model_spec(str(tiny_resnet_dir), WORDS)
    assert str(err.value).startswith(
        f"{tiny_resnet_dir} predicts 10 classes (['0', '1', '2', '3', '4']...), not the dataset's 10 (['digit 0', "
        "'digit 1', 'digit 2', 'digit 3', 'digit 4']...); "
    )


def test_saved_models_without_class_names_take_the_datasets(tmp_path):
    unnamed = tiny_resnet(["LABEL_0", "LABEL_1", "LABEL_2"], embedding_size=8, hidden_sizes=(8, 16))
    folder = unnamed.save_pretrained(tmp_path / "unnamed")
    clf = load_model_spec(str(folder), NAMES)
    assert clf.class_names == NAMES and clf.num_classes == 3 and _same_weights(clf, unnamed)
    with pytest.raises(HfnetError, match=r"predicts 3 classes \(\[\]\.\.\.\), not the dataset's 10 "):
        load_model_spec(str(folder), WORDS)


def test_replace_head_gives_a_saved_model_a_fresh_head_for_the_classes(tiny_vit_dir, caplog):
    with caplog.at_level(logging.INFO, logger="hfnet.distillation.models"):
        clf = load_model_spec(str(tiny_vit_dir), WORDS, replace_head=True)
    assert clf.num_classes == 10 and clf.class_names == WORDS
    assert clf.logits(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    assert f"replacing the head of {tiny_vit_dir} for 10 classes" in caplog.messages
    kept = load_model_spec(str(tiny_vit_dir), NAMES, replace_head=True)  # the classes match: the head is kept
    assert torch.equal(kept.head.weight, load_model_spec(str(tiny_vit_dir), NAMES).head.weight)
