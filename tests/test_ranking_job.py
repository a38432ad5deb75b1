"""rank_job: the config, the recommended pick, the feature cache (no forward pass on a second run, nothing lost
when a candidate fails mid-run), the size-capped Hub search shown before downloading, and 2 processes = 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from hfnet.classifier import HubClassifier, load_classifier
from hfnet.errors import HfnetError
from hfnet.ranking.config import RankingConfig
from hfnet.ranking.job import rank_job
from hfnet.ranking.search import format_search, search_hub

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def target(digits_small):
    return digits_small["test"]  # 5 images of each digit


@pytest.fixture(scope="module")
def folders(tiny_vit_dir, tiny_timm_dir, tiny_resnet_dir):
    return [str(tiny_vit_dir), str(tiny_timm_dir), str(tiny_resnet_dir)]


@pytest.fixture
def forwards(monkeypatch):
    """Counts every batch any classifier runs, and every model load."""
    counts = {"batches": 0, "loads": 0}
    original = HubClassifier.logits_and_features

    def counting(self, x):
        counts["batches"] += 1
        return original(self, x)

    monkeypatch.setattr(HubClassifier, "logits_and_features", counting)

    def loader(name):
        counts["loads"] += 1
        return load_classifier(name)

    counts["loader"] = loader
    return counts


def test_config_is_torch_free_and_validates():
    code = "import sys, hfnet.ranking.config; assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert RankingConfig().default_sort() == "recommended"
    assert RankingConfig(metrics=["knn", "nce"]).default_sort() == "nce"  # best-validated among those computed
    assert RankingConfig(metrics=["leep", "nce"], sort_by="nce").default_sort() == "nce"
    for bad, match in (
        ({"metrics": ["accuracy"]}, "unknown metric"),
        ({"metrics": ["leep"], "sort_by": "logme"}, "not among the scores"),
        ({"limit": 0}, "limit"),
        ({"max_params": 0}, "max_params"),
        ({"num_samples": 1}, "num_samples"),
        ({"combine": "max"}, "combine"),
    ):
        with pytest.raises(HfnetError, match=match):
            RankingConfig(**bad)


def test_rank_job_table_json_and_recommendation(target, folders, tmp_path):
    config = RankingConfig(
        candidates=folders,
        num_samples=40,
        metrics=["logme", "leep", "knn"],
        json=str(tmp_path / "r.json"),
        plot=str(tmp_path / "r.png"),
        progress=False,
    )
    result = rank_job(config, target, dataset_name="digits:test")
    rows = result.rows()
    assert result.sort_by == "logme"
    assert [r["#logme"] for r in rows] == [1, 2, 3]  # sorted by the best-validated score
    data = json.loads((tmp_path / "r.json").read_text())
    best = max(result.ranking.ranked, key=lambda c: c.scores["logme"])
    assert data["recommended"]["score"] == "logme" and data["recommended"]["candidate"] == best.name
    assert "first under logme" in data["recommended"]["reason"]
    assert data["sort_by"] == "logme" and data["table"][0]["candidate"] == best.name
    assert (tmp_path / "r.png").stat().st_size > 1000
    assert "recommended: " + best.name in result.table()


def test_second_run_with_cache_does_no_forward_pass(target, folders, tmp_path, forwards):
    config = RankingConfig(
        candidates=folders, num_samples=40, metrics=["logme"], cache_dir=str(tmp_path), progress=False
    )
    first = rank_job(config, target, loader=forwards["loader"])
    assert forwards["batches"] > 0 and forwards["loads"] == 3
    assert not any(c.cached for c in first.ranking.candidates)
    forwards["batches"] = forwards["loads"] = 0
    rescored = RankingConfig(
        candidates=folders, num_samples=40, metrics=["logme", "sfda", "nleep"], cache_dir=str(tmp_path), progress=False
    )
    second = rank_job(rescored, target, loader=forwards["loader"])
    assert forwards["batches"] == 0 and forwards["loads"] == 0  # neither loaded nor run
    assert all(c.cached and c.forward_batches == 0 for c in second.ranking.candidates)
    for a, b in zip(first.ranking.candidates, second.ranking.candidates):
        assert a.scores["logme"] == b.scores["logme"] and b.scores["sfda"] is not None
    # other samples are another dataset fingerprint: computed again, not served stale
    other = RankingConfig(
        candidates=folders[:1], num_samples=30, metrics=["logme"], cache_dir=str(tmp_path), progress=False
    )
    rank_job(other, target, loader=forwards["loader"])
    assert forwards["loads"] == 1 and forwards["batches"] > 0


def test_candidate_failing_mid_run_keeps_the_others_cached_features(target, folders, tmp_path, forwards):
    def failing_loader(name):
        clf = forwards["loader"](name)
        if name == folders[1]:
            calls = {"n": 0}
            original = clf.logits_and_features

            def second_batch_fails(x):
                calls["n"] += 1
                if calls["n"] == 2:
                    raise RuntimeError("out of memory on batch 2")
                return original(x)

            clf.logits_and_features = second_batch_fails
        return clf

    config = RankingConfig(
        candidates=folders, num_samples=40, batch_size=16, metrics=["logme"], cache_dir=str(tmp_path), progress=False
    )
    result = rank_job(config, target, loader=failing_loader)
    assert "out of memory" in result.ranking.candidates[1].error
    assert len(list(Path(tmp_path).glob("*.npz"))) == 2  # the others' outputs are on disk, nothing half-written
    assert not list(Path(tmp_path).glob(".*"))
    forwards["batches"] = forwards["loads"] = 0
    resumed = rank_job(config, target, loader=forwards["loader"])
    assert [c.cached for c in resumed.ranking.candidates] == [True, False, True]
    assert forwards["loads"] == 1 and forwards["batches"] == 3  # only the failed one runs: 40 images / 16
    assert resumed.ranking.candidates[0].scores == result.ranking.candidates[0].scores


class SizedApi:
    def __init__(self):
        self.listing = [
            SimpleNamespace(
                id="big/vit-huge",
                downloads=900,
                tags=["transformers"],
                safetensors=SimpleNamespace(total=632_000_000),
                used_storage=2_500_000_000,
            ),
            SimpleNamespace(
                id="timm/resnet18",
                downloads=800,
                tags=["timm"],
                safetensors=SimpleNamespace(total=11_700_000),
                used_storage=47_000_000,
            ),
            SimpleNamespace(id="someone/mystery", downloads=700, tags=["timm"], safetensors=None, used_storage=None),
            SimpleNamespace(
                id="timm/mobilenetv3",
                downloads=600,
                tags=["timm"],
                safetensors=SimpleNamespace(total=5_500_000),
                used_storage=22_000_000,
            ),
        ]

    def list_models(self, *, search=None, filter=None, limit=None, expand=None, **_):
        assert expand and "safetensors" in expand
        return [m for m in self.listing if filter in m.tags][:limit]


def test_search_caps_size_and_says_what_it_will_download(target):
    results = search_hub("x", 5, max_params=3e7, api=SizedApi())
    assert [r.id for r in results if r.kept] == ["timm/resnet18", "timm/mobilenetv3"]
    text = format_search(results)
    assert "will download 2 model(s), about 69.0MB" in text and "11.7M params" in text
    assert "skipped big/vit-huge: 632,000,000 parameters > max_params" in text
    assert "skipped someone/mystery: unknown parameter count" in text

    events = []

    def loader(name):
        events.append(("load", name))
        raise HfnetError(f"offline test: {name} not downloaded")

    config = RankingConfig(search="x", limit=5, max_params=3e7, metrics=["logme"], progress=False)
    with pytest.raises(HfnetError, match="every candidate failed"):
        rank_job(config, target, api=SizedApi(), loader=loader, on_search=lambda r: events.append(("shown", len(r))))
    assert events[0] == ("shown", 4) and [e[1] for e in events[1:]] == ["timm/resnet18", "timm/mobilenetv3"]


def test_emd_skipped_with_a_note_unless_named(target, folders):
    import datasets

    features = datasets.Features(
        {"image": target.features["image"], "label": datasets.ClassLabel(names=[f"qwzxv{i}" for i in range(10)])}
    )
    odd = target.cast(features)
    result = rank_job(RankingConfig(candidates=folders[:1], num_samples=30, progress=False), odd)
    assert "emd" not in result.ranking.metrics and "sem_logme" in result.ranking.metrics
    assert any("EMD skipped" in n for n in result.ranking.notes)
    with pytest.raises(HfnetError, match="--class-map"):
        rank_job(RankingConfig(candidates=folders[:1], metrics=["emd"], num_samples=30, progress=False), odd)


@pytest.mark.slow
def test_two_processes_give_the_one_process_table(folders, tmp_path):
    from launch import run_recipe

    args = ["--dataset", "digits", "--samples_per_class", "20", "--test_samples_per_class", "5", "--split", "test",
            "--candidates", *folders, "--metrics", "logme", "leep", "knn", "sfda", "--num_samples", "50",
            "--no_progress"]  # fmt: skip
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    run_recipe("rank_models.py", [*args, "--json", str(one)])
    run_recipe("rank_models.py", [*args, "--json", str(two)], processes=2)
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    assert a["num_processes"] == 1 and b["num_processes"] == 2  # the world size each run really had
    assert a["table"] == b["table"] and a["recommended"] == b["recommended"]
    assert [c["index"] for c in b["candidates"]] == [0, 1, 2]
    assert [c["process"] for c in b["candidates"]] == [0, 1, 0]  # each process scored its share only
    assert [c["process"] for c in a["candidates"]] == [0, 0, 0]
