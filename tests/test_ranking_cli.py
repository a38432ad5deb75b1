"""``hfnet rank`` on local folders, offline; the Hub search with a fake listing."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from hfnet.commands import main
from hfnet.errors import HfnetError
from hfnet.ranking.search import search_candidates


class FakeApi:
    """Stands in for huggingface_hub.HfApi: a fixed listing, filtered like the Hub would."""

    def __init__(self, listing):
        self.listing = listing
        self.calls = []

    def list_models(self, *, search=None, filter=None, pipeline_tag=None, sort=None, limit=None, **_):
        self.calls.append({"search": search, "filter": filter, "pipeline_tag": pipeline_tag, "sort": sort})
        hits = [m for m in self.listing if filter in m.tags and (not search or search in m.id)]
        return sorted(hits, key=lambda m: -m.downloads)[:limit]


LISTING = [
    SimpleNamespace(id="google/vit-base-patch16-224", downloads=900, tags=["transformers"]),
    SimpleNamespace(id="timm/resnet18.a1_in1k", downloads=500, tags=["timm"]),
    SimpleNamespace(id="timm/vit_tiny_patch16_224.augreg_in21k", downloads=700, tags=["timm"]),
    SimpleNamespace(id="someone/bert-base", downloads=10**6, tags=["transformers"]),
]


def test_search_merges_libraries_by_downloads():
    api = FakeApi(LISTING)
    assert search_candidates("vit", 2, api=api) == [
        "google/vit-base-patch16-224",
        "timm/vit_tiny_patch16_224.augreg_in21k",
    ]
    assert {c["filter"] for c in api.calls} == {"timm", "transformers"}
    assert all(c["pipeline_tag"] == "image-classification" and c["sort"] == "downloads" for c in api.calls)
    with pytest.raises(HfnetError, match="found no"):
        search_candidates("nothing-matches", 3, api=api)


def test_search_failure_is_one_clear_line():
    class Offline:
        def list_models(self, **_):
            raise ConnectionError("no network")

    with pytest.raises(HfnetError, match="Hub search for 'vit' failed.*--candidates"):
        search_candidates("vit", 3, api=Offline())


def test_rank_local_folders_table_json_plot(tiny_vit_dir, tiny_timm_dir, tmp_path, capsys):
    out, png = tmp_path / "ranking.json", tmp_path / "ranking.png"
    argv = [
        "rank",
        "--dataset",
        "digits",
        "--candidates",
        str(tiny_vit_dir),
        str(tiny_timm_dir),
        str(tmp_path / "nope"),
    ]
    argv += ["--num-samples", "40", "--json", str(out), "--plot", str(png), "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "digits:train: 40 images, 10 classes" in text
    assert str(tiny_vit_dir) in text and str(tiny_timm_dir) in text
    assert f"skipped {tmp_path / 'nope'}: no such model folder" in text
    data = json.loads(out.read_text())
    assert data["num_samples"] == 40
    assert len(data["candidates"]) == 3
    assert sorted(r for r in data["ranks"]["logme"].values() if r is not None) == [1, 2]
    assert png.stat().st_size > 10_000


def test_rank_with_fake_search_listing(tiny_vit_dir, monkeypatch, capsys):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", lambda *a, **k: FakeApi(LISTING))
    argv = ["rank", "--dataset", "digits", "--candidates", str(tiny_vit_dir), "--search", "resnet", "--limit", "1"]
    assert main([*argv, "--num-samples", "20", "--metrics", "leep", "logme", "--no-progress"]) == 0
    text = capsys.readouterr().out
    # what the search will download is listed before anything is loaded
    assert text.index("will download 1 model(s)") < text.index("timm/resnet18.a1_in1k: cannot load")
    assert "timm/resnet18.a1_in1k" in text.splitlines()[1]
    # offline: the found id cannot be loaded, is reported, and the local folder is still ranked
    assert "skipped timm/resnet18.a1_in1k: cannot load" in text


def test_rank_errors(tiny_vit_dir, tmp_path, capsys):
    base = ["rank", "--dataset", "digits", "--num-samples", "20", "--no-progress"]
    # argparse names the valid choices, on one line, exit 1
    assert main([*base, "--candidates", str(tiny_vit_dir), "--metrics", "accuracy"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "invalid choice: 'accuracy'" in err[0]
    assert main(base) == 1
    assert "error: no candidates" in capsys.readouterr().err
    assert main([*base, "--candidates", str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    captured = capsys.readouterr()
    assert "error: every candidate failed" in captured.err and "no such model folder" in captured.err
    bad_map = tmp_path / "map.json"
    bad_map.write_text("{not json")
    assert main([*base, "--candidates", str(tiny_vit_dir), "--class-map", str(bad_map)]) == 1
    assert "not valid JSON" in capsys.readouterr().err
